"""Field validators and fields that several blueprints' forms share."""
import phonenumbers
from wtforms import PasswordField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from portal.security.passwords import MAX_LENGTH, password_problems


class InternationalPhone:
    """A mobile phone in international format (+ and country code), stored as E.164."""

    message = "Enter the number in international format, for example +44 7700 900123."

    def __call__(self, form, field):
        if not field.data:
            field.data = None
            return
        try:
            number = phonenumbers.parse(field.data, None)
        except phonenumbers.NumberParseException:
            raise ValidationError(self.message) from None
        if not phonenumbers.is_possible_number(number):
            raise ValidationError(self.message)
        field.data = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class StrongPassword:
    """The password rules of `portal.security.passwords`, checked against the form's username."""

    def __init__(self, username_field: str | None = "username"):
        self.username_field = username_field

    def __call__(self, form, field):
        username = None
        if self.username_field and self.username_field in form:
            username = form[self.username_field].data
        elif getattr(form, "employee", None) is not None:
            username = form.employee.username
        problems = password_problems(field.data or "", username)
        if problems:
            raise ValidationError(" ".join(problems))


def new_password_fields(username_field: str | None = "username"):
    """The New password / Confirm pair used by every form that sets a password."""
    password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(max=MAX_LENGTH), StrongPassword(username_field)],
        description="At least 12 characters; not your username; not a common password.",
    )
    confirm = PasswordField(
        "Confirm new password",
        validators=[DataRequired(), EqualTo("password", message="The two passwords do not match.")],
    )
    return password, confirm
