from flask_wtf import FlaskForm
from wtforms import IntegerField, RadioField, SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from portal.mfa.settings import MAX_DRIFT, MAX_LOCK_MINUTES


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
    submit = SubmitField("Save")

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
    }

    def load(self, get) -> None:
        for name, (key, _to_store, to_form) in self.MAPPING.items():
            self[name].data = to_form(get(key))

    def changes(self) -> dict:
        return {key: to_store(self[name].data) for name, (key, to_store, _) in self.MAPPING.items()}
