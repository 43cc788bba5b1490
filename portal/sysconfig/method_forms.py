"""Sys Config › MFA methods: which factors the portal offers, and Email OTP's settings."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, ValidationError

from portal.message_templates import OTP_PLACEHOLDERS, TemplateError, check_otp_template, check_placeholders


class TemplatePlaceholders:
    """Only {code}, {name} and {minutes} may appear in a message template."""

    def __call__(self, form, field):
        try:
            check_placeholders(field.data or "", OTP_PLACEHOLDERS)
        except TemplateError as error:
            raise ValidationError(str(error)) from None


class MfaMethodsForm(FlaskForm):
    totp = BooleanField("App OTP (authenticator app)",
                        description="Always offered first: the factor NIST SP 800-63B accepts without reservations.")
    email = BooleanField(
        "Email OTP",
        description="NIST SP 800-63B does not accept email as an authentication factor: whoever reads the "
                    "mailbox passes the second step. Offer it only where the authenticator app is not possible.")
    sms = BooleanField(
        "SMS OTP",
        description="NIST SP 800-63B restricts SMS: numbers can be moved to another SIM or intercepted. "
                    "Codes go through Sys Config › SMS Gateway, which must be Active.")
    email_length = IntegerField("Email code length (digits)", validators=[InputRequired(), NumberRange(4, 10)])
    email_validity_minutes = IntegerField("Email code valid for (minutes)",
                                          validators=[InputRequired(), NumberRange(1, 60)])
    email_max_attempts = IntegerField("Wrong codes before an email code is void",
                                      validators=[InputRequired(), NumberRange(1, 20)])
    email_subject = StringField("Email subject", validators=[DataRequired(), Length(max=200), TemplatePlaceholders()])
    email_body = TextAreaField("Email text", validators=[DataRequired(), Length(max=2000), TemplatePlaceholders()],
                               description="Placeholders: {code}, {name}, {minutes}.", render_kw={"rows": 5})
    sms_length = IntegerField("SMS code length (digits)", validators=[InputRequired(), NumberRange(4, 10)])
    sms_validity_minutes = IntegerField("SMS code valid for (minutes)",
                                        validators=[InputRequired(), NumberRange(1, 60)])
    sms_max_attempts = IntegerField("Wrong codes before an SMS code is void",
                                    validators=[InputRequired(), NumberRange(1, 20)])
    submit = SubmitField("Save")

    MAPPING = {
        "totp": "mfa.methods.totp",
        "email": "mfa.methods.email",
        "email_length": "mfa.email.length",
        "email_validity_minutes": "mfa.email.validity_minutes",
        "email_max_attempts": "mfa.email.max_attempts",
        "email_subject": "mfa.email.subject",
        "email_body": "mfa.email.body",
        "sms": "mfa.methods.sms",
        "sms_length": "mfa.sms.length",
        "sms_validity_minutes": "mfa.sms.validity_minutes",
        "sms_max_attempts": "mfa.sms.max_attempts",
    }

    def validate_totp(self, field):
        if not field.data and not self.email.data and not self.sms.data:
            raise ValidationError("Enable at least one method, or switch MFA off in Sys Config › MFA.")

    def validate_email_body(self, field):
        try:
            check_otp_template(field.data or "")
        except TemplateError as error:
            raise ValidationError(str(error)) from None

    def load(self, get) -> None:
        for name, key in self.MAPPING.items():
            self[name].data = get(key)

    def changes(self) -> dict:
        return {key: self[name].data.strip() if isinstance(self[name].data, str) else self[name].data
                for name, key in self.MAPPING.items()}
