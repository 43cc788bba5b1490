from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, ValidationError

from portal.forms import new_password_fields
from portal.services.employees import check_current_password


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired(), Length(max=128)])
    password, confirm = new_password_fields(username_field=None)
    submit = SubmitField("Change password")

    def __init__(self, employee, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.employee = employee

    def validate_current_password(self, field):
        if not check_current_password(self.employee, field.data):
            raise ValidationError("The current password is not correct.")

    def validate_password(self, field):
        if field.data and field.data == self.current_password.data:
            raise ValidationError("Choose a password different from the current one.")


class ConfirmIdentityForm(FlaskForm):
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)])
    code = StringField("One-time password", validators=[DataRequired(), Length(max=16)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})
    submit = SubmitField("Confirm")
