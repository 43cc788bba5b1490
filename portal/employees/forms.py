from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp

from portal.extensions import db
from portal.forms import InternationalPhone, new_password_fields
from portal.models import AccessPolicy
from portal.services.employees import FULL_NAME_MAX_LENGTH, USERNAME_MAX_LENGTH, USERNAME_MESSAGE, USERNAME_PATTERN

STATUS_CHOICES = [SelectChoice(n, f"{n} – {'administrator' if n == 9 else 'manager' if n >= 5 else 'staff'}")
                  for n in range(1, 10)]


class EmployeeForm(FlaskForm):
    username = StringField(
        "Username",
        validators=[DataRequired(), Length(max=USERNAME_MAX_LENGTH),
                    Regexp(USERNAME_PATTERN, message=USERNAME_MESSAGE)],
    )
    full_name = StringField("Full name", validators=[DataRequired(), Length(max=FULL_NAME_MAX_LENGTH)])
    email = EmailField("Email", validators=[Optional(), Email(message="Enter a valid email address."),
                                            Length(max=254)])
    mobile_phone = StringField("Mobile phone", validators=[Optional(), Length(max=32), InternationalPhone()],
                               description="International format, for example +44 7700 900123.")
    status_level = SelectField("Status level", choices=STATUS_CHOICES, coerce=int, default=1)
    active = BooleanField("Active", default=True)
    submit = SubmitField("Save")

    def employee_values(self) -> dict:
        return {
            "username": self.username.data.strip(),
            "full_name": self.full_name.data.strip(),
            "email": (self.email.data or "").strip().lower() or None,
            "mobile_phone": self.mobile_phone.data or None,
            "status_level": self.status_level.data,
            "active": self.active.data,
        }


def _policy_id(value):
    return int(value) if value not in (None, "", "None") else None


class EditEmployeeForm(EmployeeForm):
    """Employee maintenance › Edit: the details and the employee's Access policy."""

    access_policy_id = SelectField("Access policy", coerce=_policy_id, validate_choice=True,
                                   description="Which MFA methods the employee may use and whether MFA is "
                                               "required for them (Sys Config › Access policies).")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        policies = db.session.execute(db.select(AccessPolicy.id, AccessPolicy.name).order_by(AccessPolicy.name_key))
        self.access_policy_id.choices = [SelectChoice("", "System settings")] + [
            SelectChoice(policy_id, name) for policy_id, name in policies]

    def employee_values(self) -> dict:
        return super().employee_values() | {"access_policy_id": self.access_policy_id.data}


class NewEmployeeForm(EmployeeForm):
    password, confirm = new_password_fields()
    submit = SubmitField("Create employee")


class SetPasswordForm(FlaskForm):
    password, confirm = new_password_fields(username_field=None)
    submit = SubmitField("Set password")

    def __init__(self, employee, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.employee = employee


class SearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    q = StringField("Search", validators=[Optional(), Length(max=100)])
    locked = BooleanField("Locked only")


class ResetMfaForm(FlaskForm):
    reason = StringField("Reason", validators=[DataRequired(), Length(max=200)],
                         description="Recorded in the audit log and sent to the employee.")
    confirm_reset = BooleanField("I have checked who is asking: this removes their authenticator and recovery codes.",
                           validators=[DataRequired(message="Tick this to confirm the reset.")])
    submit = SubmitField("Reset MFA")
