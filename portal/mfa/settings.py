"""Sys Config › MFA: the settings' names, defaults and typed view."""
from dataclasses import dataclass

from portal import settings
from portal.mfa.providers.totp import TotpParameters

DEFAULTS = {
    "mfa.status": False,  # On / Off
    "mfa.mode": "optional",  # "optional" / "mandatory", only when On
    "mfa.totp.issuer": "Back Office",
    "mfa.totp.digits": 6,
    "mfa.totp.algorithm": "SHA1",
    "mfa.totp.period": 30,
    "mfa.totp.drift": 1,
    "mfa.failed_limit": 5,
    "mfa.lock_minutes": 15,
    "mfa.require_enrolment_code": False,
    # "Enable MFA for the mobile app" (seed 003): token logins (POST /api/token) need a code too.
    "mfa.mobile_app": False,
    # Methods enabled at system level (seed 004): the authenticator app is always offered first.
    "mfa.methods.totp": True,
    "mfa.methods.email": False,
    "mfa.methods.sms": False,
    "mfa.sms.length": 6,
    "mfa.sms.validity_minutes": 5,
    "mfa.sms.max_attempts": 5,
    "mfa.email.length": 6,
    "mfa.email.validity_minutes": 5,
    "mfa.email.max_attempts": 5,
    "mfa.email.subject": "Your Back Office code",
    "mfa.email.body": ("Hello {name},\n\nYour Back Office code is {code}. It is valid for {minutes} minutes."
                       "\n\nIf you did not just try to sign in, tell your administrator."),
}
for _key, _default in DEFAULTS.items():
    settings.register(_key, _default)

MAX_LOCK_MINUTES = 24 * 60
MAX_DRIFT = 10


@dataclass(frozen=True)
class SentCodeSettings:
    """Email (and later SMS) codes: length, validity, attempts, and the message's templates."""

    length: int
    validity_minutes: int
    max_attempts: int
    subject: str = ""  # email only: SMS takes its text from Sys Config › SMS Gateway
    body: str = ""


@dataclass(frozen=True)
class MfaSettings:
    enabled: bool
    mandatory: bool
    issuer: str
    totp: TotpParameters
    drift: int
    failed_limit: int
    lock_minutes: int
    require_enrolment_code: bool
    methods: frozenset
    email: SentCodeSettings
    sms: SentCodeSettings

    def sent_code(self, method: str) -> SentCodeSettings:
        return self.email if method == "email" else self.sms


def current() -> MfaSettings:
    return settings.derived("mfa", _read)


def _read() -> MfaSettings:
    return MfaSettings(
        enabled=bool(settings.get("mfa.status")),
        mandatory=settings.get("mfa.mode") == "mandatory",
        issuer=settings.get("mfa.totp.issuer"),
        totp=TotpParameters(settings.get("mfa.totp.digits"), settings.get("mfa.totp.algorithm"),
                            settings.get("mfa.totp.period")),
        drift=min(int(settings.get("mfa.totp.drift")), MAX_DRIFT),
        failed_limit=min(int(settings.get("mfa.failed_limit")), 100),
        lock_minutes=int(settings.get("mfa.lock_minutes")),
        require_enrolment_code=bool(settings.get("mfa.require_enrolment_code")),
        methods=frozenset(m for m in ("totp", "email", "sms") if settings.get(f"mfa.methods.{m}")),
        email=SentCodeSettings(
            length=int(settings.get("mfa.email.length")),
            validity_minutes=int(settings.get("mfa.email.validity_minutes")),
            max_attempts=int(settings.get("mfa.email.max_attempts")),
            subject=settings.get("mfa.email.subject"),
            body=settings.get("mfa.email.body"),
        ),
        sms=SentCodeSettings(
            length=int(settings.get("mfa.sms.length")),
            validity_minutes=int(settings.get("mfa.sms.validity_minutes")),
            max_attempts=int(settings.get("mfa.sms.max_attempts")),
        ),
    )
