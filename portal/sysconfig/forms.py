import re
from urllib.parse import urlsplit

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Regexp, ValidationError

from portal.mfa.settings import MAX_DRIFT, MAX_LOCK_MINUTES
from portal.models.sms_gateway import FORM, JSON
from portal.security.session_policy import ALWAYS, MANDATORY_ONLY
from portal.sms import templates
from portal.sms.config import PLAIN_FIELDS, parse_headers
from portal.sms.gateway import E164


def _choices(*pairs):
    return [SelectChoice(value, label) for value, label in pairs]


class MfaSettingsForm(FlaskForm):
    status = RadioField("Status", choices=_choices(("on", "On"), ("off", "Off")), validators=[InputRequired()],
                        description="Off: nobody can use or sign up for MFA; existing enrolments are kept.")
    mode = RadioField("Mode", choices=_choices(("optional", "Optional"), ("mandatory", "Mandatory")),
                      validators=[InputRequired()],
                      description="Only when Status is On. Optional offers Skip; Mandatory requires Signup for MFA.")
    issuer = StringField("Issuer name shown in the app", validators=[DataRequired(), Length(max=40)])
    digits = SelectField("Digits", choices=_choices((6, "6"), (8, "8")), coerce=int)
    algorithm = SelectField(
        "Algorithm", choices=_choices(("SHA1", "SHA1"), ("SHA256", "SHA256"), ("SHA512", "SHA512")),
        description="SHA1 is the one every authenticator app supports; some apps ignore the others.")
    period = IntegerField("Period (seconds)", validators=[InputRequired(), NumberRange(15, 120)])
    drift = IntegerField("Time-drift tolerance (steps either side)",
                         validators=[InputRequired(), NumberRange(0, MAX_DRIFT)],
                         description="Accepts codes this many periods early or late, for phones whose clock drifts.")
    failed_limit = IntegerField("Failed codes before the second step locks",
                                validators=[InputRequired(), NumberRange(1, 100)])
    lock_minutes = IntegerField("Lock period (minutes)", validators=[InputRequired(), NumberRange(1, MAX_LOCK_MINUTES)],
                                description="Doubles with each further lock, up to 24 hours.")
    require_enrolment_code = BooleanField(
        "After Reset MFA, require an enrolment code",
        description="Recommended. The reset gives a single-use code for 24 hours (emailed, or shown once to the "
                    "administrator) that Signup asks for, so a stolen password alone cannot enrol a new authenticator.")
    mobile_app = BooleanField(
        "Enable MFA for the mobile app",
        description="Token logins from the mobile app and other external services (POST /api/token) then need a "
                    "one-time password from employees who must use MFA (enrolled, or required by Mode or an Access "
                    "policy); without one they get “Multi-factor authentication is required for this "
                    "service”. Tokens issued earlier with a password alone stop working for them. Off by default, "
                    "as the business asked; recommended on: while it is off, a stolen password alone gets a token.")
    timeout_minutes = IntegerField(
        "Inactivity timeout (minutes)", validators=[InputRequired(), NumberRange(1, 24 * 60)],
        description="NIST SP 800-63B (AAL2) and OWASP ASVS level 2 ask for 30 to 60 minutes at most; "
                    "120 is the Back Office default the business asked for.")
    warning_minutes = IntegerField("Warning before timeout (minutes)", validators=[InputRequired(), NumberRange(1, 60)],
                                   description="A popup offers to stay signed in this long before the timeout.")
    timeout_applies = RadioField(
        "Timeout applies", choices=_choices((MANDATORY_ONLY, "Mandatory mode only"), (ALWAYS, "Always")),
        validators=[InputRequired()])
    submit = SubmitField("Save")

    def validate_warning_minutes(self, field):
        if field.data is not None and self.timeout_minutes.data and field.data >= self.timeout_minutes.data:
            raise ValidationError("The warning must come before the timeout: use fewer minutes than the timeout.")

    # form field → (setting key, form value → stored value, stored value → form value)
    MAPPING = {
        "status": ("mfa.status", lambda v: v == "on", lambda v: "on" if v else "off"),
        "mode": ("mfa.mode", str, str),
        "issuer": ("mfa.totp.issuer", str.strip, str),
        "digits": ("mfa.totp.digits", int, int),
        "algorithm": ("mfa.totp.algorithm", str, str),
        "period": ("mfa.totp.period", int, int),
        "drift": ("mfa.totp.drift", int, int),
        "failed_limit": ("mfa.failed_limit", int, int),
        "lock_minutes": ("mfa.lock_minutes", int, int),
        "require_enrolment_code": ("mfa.require_enrolment_code", bool, bool),
        "mobile_app": ("mfa.mobile_app", bool, bool),
        "timeout_minutes": ("session.timeout_minutes", int, int),
        "warning_minutes": ("session.warning_minutes", int, int),
        "timeout_applies": ("session.timeout_applies", str, str),
    }

    def load(self, get) -> None:
        for name, (key, _to_store, to_form) in self.MAPPING.items():
            self[name].data = to_form(get(key))

    def changes(self) -> dict:
        return {key: to_store(self[name].data) for name, (key, to_store, _) in self.MAPPING.items()}


def _check_http_url(value: str, what: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"Enter the {what} with its scheme, for example https://sms.example.com/send.")
    if parts.username or parts.password:
        raise ValidationError("Leave credentials out of the URL: they would show on this page and in the audit log.")
    if any(c.isspace() for c in value):
        raise ValidationError("A URL has no spaces; encode them as %20.")
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        raise ValidationError("The port is not a number between 0 and 65535.") from None


class SmsGatewayForm(FlaskForm):
    """Sys Config › SMS Gateway. The password and headers are never filled in from the database:
    left blank they keep what is stored; typed, they replace it; the Clear boxes remove it."""

    active = BooleanField("Active", description="SMS codes are sent only while the gateway is Active.")
    url = StringField("Gateway URL", validators=[Length(max=2000)],
                      description="http:// or https://, for example https://api.sms-provider.example/v1/messages.")
    method = RadioField("Method", choices=_choices(("POST", "POST"), ("GET", "GET")), validators=[InputRequired()])
    sender_id = StringField("Sender ID", validators=[Length(max=64)],
                            description="The sender name or number your provider assigned; {sender} in the request.")
    content_type = RadioField("Request data format", choices=_choices((FORM, "Form URL-encoded"), (JSON, "JSON")),
                              validators=[InputRequired()], description="GET sends form fields in the query string.")
    request_template = TextAreaField(
        "Request data", validators=[Length(max=4000)], render_kw={"rows": 4},
        description="Placeholders {to}, {message}, {sender}. Form: to={to}&text={message}&from={sender} "
                    '(or one name=value per line). JSON: {"to": "{to}", "text": "{message}"}; nested objects allowed.')
    success_status = IntegerField("Success: expected HTTP status", validators=[InputRequired(), NumberRange(100, 599)])
    success_text = StringField("Success: text the response contains", validators=[Length(max=255)],
                               description="Optional. Without it, the expected status alone means success.")
    failed_text = StringField("Failed: text that means the SMS was refused", validators=[Length(max=255)],
                              description="Optional. A response containing it is a failure, whatever its status.")
    username = StringField("Username", validators=[Length(max=255)],
                           description="Optional; when set, requests carry HTTP basic authentication.")
    password = PasswordField("Password / API key", validators=[Length(max=500)],
                             render_kw={"autocomplete": "new-password"},
                             description="Stored encrypted and never shown. Leave blank to keep the stored one.")
    clear_password = BooleanField("Clear the stored password")
    headers = TextAreaField(
        "Extra HTTP headers", validators=[Length(max=4000)], render_kw={"rows": 3, "autocomplete": "off"},
        description="One Name: value per line, e.g. Authorization: Bearer <token>. Stored encrypted and never shown; "
                    "typing headers replaces all stored ones, blank keeps them.")
    clear_headers = BooleanField("Clear the stored headers")
    verify_tls = BooleanField("Verify TLS certificate", description="Switch off only for a test gateway.")
    proxy_url = StringField("Network proxy", validators=[Length(max=2000)],
                            description="Optional, for example http://proxy.example.com:3128.")
    phone_pattern = StringField(
        "Phone-number pattern", validators=[Length(max=255)],
        description=r"Optional regular expression the whole number must match, e.g. \+44\d{10}. "
                    "Numbers are always in international format (+ and digits).")
    otp_template = TextAreaField("OTP message", validators=[DataRequired(), Length(max=480)], render_kw={"rows": 2},
                                 description="Placeholders {code} (required), {minutes}, {name}.")
    submit = SubmitField("Save")

    def validate_url(self, field):
        if field.data.strip():
            _check_http_url(field.data.strip(), "gateway URL")
        elif self.active.data:
            raise ValidationError("An Active gateway needs its URL.")

    def validate_proxy_url(self, field):
        if field.data.strip():
            _check_http_url(field.data.strip(), "proxy URL")

    def validate_content_type(self, field):
        if field.data == JSON and self.method.data == "GET":
            raise ValidationError("GET sends its data in the query string: choose Form URL-encoded, or use POST.")

    def validate_request_template(self, field):
        text = field.data.strip()
        if not text and not self.active.data:
            return
        try:
            if self.content_type.data == JSON:
                templates.check_json_template(text)
            else:
                templates.check_form_template(text)
        except templates.TemplateError as error:
            raise ValidationError(str(error)) from None

    def validate_phone_pattern(self, field):
        try:
            re.compile(field.data.strip())
        except re.error as error:
            raise ValidationError(f"This is not a valid regular expression ({error}).") from None

    def validate_otp_template(self, field):
        try:
            templates.check_otp_template(field.data)
        except templates.TemplateError as error:
            raise ValidationError(str(error)) from None

    def validate_headers(self, field):
        if field.data.strip() and self.clear_headers.data:
            raise ValidationError("Either type new headers or tick Clear, not both.")
        try:
            parse_headers(field.data)
        except templates.TemplateError as error:
            raise ValidationError(str(error)) from None

    def validate_password(self, field):
        if field.data and self.clear_password.data:
            raise ValidationError("Either type a new password or tick Clear, not both.")

    def load(self, gateway) -> None:
        for name in PLAIN_FIELDS:
            self[name].data = getattr(gateway, name)

    def values(self) -> dict:
        """The plain fields as they are stored: text stripped."""
        data = {name: self[name].data for name in PLAIN_FIELDS}
        return {name: value.strip() if isinstance(value, str) else value for name, value in data.items()}

    def new_password(self) -> str | None:
        """None keeps the stored password, "" clears it."""
        return "" if self.clear_password.data else (self.password.data or None)

    def new_headers(self) -> str | None:
        if self.clear_headers.data:
            return ""
        pairs = parse_headers(self.headers.data)
        return "\n".join(f"{name}: {value}" for name, value in pairs) if pairs else None


class SmsTestForm(FlaskForm):
    number = StringField(
        "Mobile number", validators=[DataRequired(), Regexp(f"^{E164.pattern}$", message=(
            "Enter the number in international format: + and the country code, digits only."))],
        render_kw={"autocomplete": "off", "inputmode": "tel"},
        description="International format, e.g. +447700900123. The saved settings are used, Active or not.")
    submit = SubmitField("Send test SMS")
