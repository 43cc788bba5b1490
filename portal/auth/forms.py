from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, Length, Optional

from portal.forms import new_password_fields
from portal.security.signin import authenticate

FAILED_SIGNIN = "The username or password is incorrect."


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


class SetupForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    full_name = StringField("Full name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[Optional(), Email(), Length(max=254)])
    password, confirm = new_password_fields()
    submit = SubmitField("Create administrator")
