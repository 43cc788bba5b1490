"""The second factors an employee can use, as one registry (DESIGN.md §5).

Views list `available(employee)` methods and hand codes to the service; adding a
provider means adding an entry here, not changing a view.
"""
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from portal.extensions import db
from portal.mfa import settings as mfa_settings
from portal.mfa.providers import email_otp, recovery_codes, sent_code, sms_otp, totp
from portal.models import AccessPolicy, Employee, MfaCredential
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


def access_policy(employee: Employee) -> AccessPolicy | None:
    """The employee's Access policy, or None: they follow the system settings."""
    if employee.access_policy_id is None:
        return None
    return db.session.get(AccessPolicy, employee.access_policy_id)


def _permitted(employee: Employee, name: str) -> bool:
    """Enabled in Sys Config › MFA methods and, for a policy's members, allowed by the policy."""
    policy = access_policy(employee)
    return _enabled(name) and (policy is None or name in policy.method_names)


def _check_app_code(employee: Employee, code: str, now: datetime, binding: str) -> bool:
    drift = mfa_settings.current().drift
    return any(totp.check(c, code, now, drift) for c in totp.credentials(employee.id))


def _sent_code_checker(method: str):
    def check(employee: Employee, code: str, now: datetime, binding: str) -> bool:
        cfg = mfa_settings.current().sent_code(method)
        return sent_code.check(employee.id, method, SIGNIN, binding, code, now, cfg.max_attempts).ok
    return check


def _can_use_sent_code(provider):
    return lambda e: (_permitted(e, provider.NAME) and provider.can_receive(e)
                      and bool(active_credentials(e.id, provider.NAME)))


METHODS: dict[str, Method] = {
    "totp": Method("totp", "Authenticator app", "Use authenticator app", "One-time password", _check_app_code,
                   lambda e: _permitted(e, "totp") and bool(totp.credentials(e.id))),
    "email": Method("email", "Email", "Send code by email", "Code from the email", _sent_code_checker("email"),
                    _can_use_sent_code(email_otp), sends_code=True),
    "sms": Method("sms", "SMS", "Send code by SMS", "Code from the SMS", _sent_code_checker("sms"),
                  _can_use_sent_code(sms_otp), sends_code=True),
    "recovery": Method("recovery", "Recovery code", "Use a recovery code", "Recovery code",
                       lambda e, code, now, binding: recovery_codes.use(e.id, code, now),
                       lambda e: recovery_codes.remaining(e.id) > 0, enrollable=False),
}


def enrollable_methods(employee: Employee) -> list[Method]:
    """What Signup for MFA offers: enabled methods the employee's Access policy allows and the
    employee can receive (email needs an address, SMS a mobile number), the authenticator app first."""
    receivers = {"email": email_otp.can_receive, "sms": sms_otp.can_receive}
    return [METHODS[n] for n in ("totp", "email", "sms")
            if _permitted(employee, n) and (n not in receivers or receivers[n](employee))]
