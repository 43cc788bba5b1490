from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectChoice,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, Email, Length, Optional

from portal.forms import new_password_fields
from portal.security.signin import authenticate

FAILED_SIGNIN = "The username or password is incorrect."
# One message for a wrong, reused or expired code (DESIGN.md §6.2).
FAILED_CODE = "That code is not valid. Check the code and try again."


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)])
    submit = SubmitField("Log in")

    employee = None

    def validate(self, extra_validators=None) -> bool:
        """Loads the employee on success; every refusal reads the same (DESIGN.md §6.5)."""
        if not super().validate(extra_validators):
            return False
        self.employee = authenticate(self.username.data, self.password.data)
        if self.employee is None:
            self.form_errors.append(FAILED_SIGNIN)
            return False
        return True


class CodeForm(FlaskForm):
    """The second step: a code for the chosen method. Empty codes are counted too, so no DataRequired."""

    method = HiddenField(default="totp")
    code = StringField("One-time password", validators=[Length(max=32)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})
    submit = SubmitField("Verify")


ENROLMENT_CODE_REFUSED = "That enrolment code is not valid or has expired. Ask your administrator for a new one."


class SignupForm(FlaskForm):
    """The Signup for MFA button: the method (when there is a choice) and, after a Reset MFA
    that issued one, the enrolment code. Choices are set per employee by the view."""

    method = RadioField("Method", choices=[], validate_choice=True)
    enrolment_code = StringField("Enrolment code", validators=[Length(max=32)],
                                 description="Your administrator gave it to you or sent it by email with the reset.")
    submit = SubmitField("Signup for MFA")


def signup_form_for(employee, **kwargs) -> SignupForm:
    """The Signup form with the methods this employee may choose (the app first)."""
    from portal.mfa.service import enrollable_methods

    form = SignupForm(**kwargs)
    form.method.choices = [SelectChoice(m.name, m.label) for m in enrollable_methods(employee)]
    if not form.method.data:  # nothing chosen (one method only, or a first display): the first
        form.method.data = form.method.choices[0].value if form.method.choices else "totp"
    return form


class ActivateForm(FlaskForm):
    """No InputRequired: an empty code is a failed attempt like any wrong one."""

    @classmethod
    def for_provider(cls, provider: str, **kwargs) -> "ActivateForm":
        form = cls(**kwargs)
        if provider != "totp":
            form.code.label.text = "Code from the SMS" if provider == "sms" else "Code from the email"
        return form

    code = StringField("Code from the app", validators=[Length(max=16)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})
    submit = SubmitField("Activate")


class SavedCodesForm(FlaskForm):
    saved = BooleanField("I have saved my recovery codes", validators=[DataRequired(
        message="Confirm that you have saved the codes; they are shown only once.")])
    submit = SubmitField("Continue")


class SetupForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    full_name = StringField("Full name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[Optional(), Email(), Length(max=254)])
    password, confirm = new_password_fields()
    submit = SubmitField("Create administrator")
