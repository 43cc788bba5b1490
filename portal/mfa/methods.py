"""The second factors an employee can use, as one registry (DESIGN.md §5).

Views list `available(employee)` methods and hand codes to the service; adding a
provider means adding an entry here, not changing a view.
"""
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from portal.extensions import db
from portal.mfa import settings as mfa_settings
from portal.mfa.providers import email_otp, recovery_codes, sent_code, totp
from portal.models import Employee, MfaCredential
from portal.models.mfa import ACTIVE

SIGNIN = "signin"
SIGNUP = "signup"


@dataclass(frozen=True)
class Method:
    name: str
    label: str  # "Authenticator app"
    choose_label: str  # the link or button that picks it at the code screen
    field_label: str  # the code field's label once picked
    check: Callable[[Employee, str, datetime, str], bool]  # (employee, code, now, binding)
    available: Callable[[Employee], bool]
    sends_code: bool = False
    enrollable: bool = True


def active_credentials(employee_id: int, provider: str | None = None) -> list[MfaCredential]:
    query = db.select(MfaCredential).where(MfaCredential.employee_id == employee_id, MfaCredential.status == ACTIVE)
    if provider:
        query = query.where(MfaCredential.provider == provider)
    return list(db.session.scalars(query))


def _enabled(name: str) -> bool:
    return name in mfa_settings.current().methods


def _check_app_code(employee: Employee, code: str, now: datetime, binding: str) -> bool:
    drift = mfa_settings.current().drift
    return any(totp.check(c, code, now, drift) for c in totp.credentials(employee.id))


def _check_email_code(employee: Employee, code: str, now: datetime, binding: str) -> bool:
    cfg = mfa_settings.current().email
    return sent_code.check(employee.id, email_otp.NAME, SIGNIN, binding, code, now, cfg.max_attempts).ok


METHODS: dict[str, Method] = {
    "totp": Method("totp", "Authenticator app", "Use authenticator app", "One-time password", _check_app_code,
                   lambda e: _enabled("totp") and bool(totp.credentials(e.id))),
    "email": Method("email", "Email", "Send code by email", "Code from the email", _check_email_code,
                    lambda e: _enabled("email") and bool(e.email) and bool(active_credentials(e.id, "email")),
                    sends_code=True),
    "recovery": Method("recovery", "Recovery code", "Use a recovery code", "Recovery code",
                       lambda e, code, now, binding: recovery_codes.use(e.id, code, now),
                       lambda e: recovery_codes.remaining(e.id) > 0, enrollable=False),
}


def enrollable_methods(employee: Employee) -> list[Method]:
    """What Signup for MFA offers: enabled methods the employee can receive (email needs an address)."""
    names = [n for n in ("totp", "email") if _enabled(n)]
    return [METHODS[n] for n in names if n != "email" or employee.email]
