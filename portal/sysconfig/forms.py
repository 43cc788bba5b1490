from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, RadioField, SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, ValidationError

from portal.mfa.settings import MAX_DRIFT, MAX_LOCK_MINUTES
from portal.security.session_policy import ALWAYS, MANDATORY_ONLY


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
        "timeout_minutes": ("session.timeout_minutes", int, int),
        "warning_minutes": ("session.warning_minutes", int, int),
        "timeout_applies": ("session.timeout_applies", str, str),
    }

    def load(self, get) -> None:
        for name, (key, _to_store, to_form) in self.MAPPING.items():
            self[name].data = to_form(get(key))

    def changes(self) -> dict:
        return {key: to_store(self[name].data) for name, (key, to_store, _) in self.MAPPING.items()}
