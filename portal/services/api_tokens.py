"""Tokens for external systems (seed 003): POST /api/token with a password and, when
"Enable MFA for the mobile app" is on and the employee must use MFA, a one-time code.

Refusals are `ApiRefusal`s with a stable errorcode; the API answers them as JSON.
"""
import hashlib
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from sqlalchemy import bindparam, update
from sqlalchemy.orm import contains_eager

from portal import settings
from portal.clock import utcnow
from portal.extensions import db
from portal.mfa import service as mfa
from portal.models import ApiToken, Employee
from portal.security import lockout
from portal.security.api_tokens import api_token_digest, new_api_token
from portal.security.audit import record_event
from portal.security.signin import authenticate, fingerprint

SERVICES = "api.services"  # {name: enabled}; names are what clients send as `service`
LIFETIME_DAYS = "api.token_days"  # how long a new token lives
MOBILE_APP = "mobile_app"
settings.register(SERVICES, {MOBILE_APP: True})
settings.register(LIFETIME_DAYS, 30)

# What each service's tokens may call under /api/mfa (Sys Config › External services). A service
# without an entry may call everything, as every service could before scopes existed (the mobile
# app, and services added before); a service added now starts with NEW_SERVICE_SCOPES.
SERVICE_SCOPES = "api.service_scopes"  # {name: [scope, ...]}
SCOPES = {
    "status": "MFA status",
    "signup": "Signup for MFA",
    "verify": "Send and check codes",
    "enforcement": "Enforcement lookups (administrators)",
}
NEW_SERVICE_SCOPES = ("status", "verify")
settings.register(SERVICE_SCOPES, {})
MFA_FOR_APPS = "mfa.mobile_app"  # "Enable MFA for the mobile app" (declared with the MFA settings)

MFA_REQUIRED = "Multi-factor authentication is required for this service"  # the seed's words
LAST_USED_WRITE_INTERVAL = timedelta(minutes=1)


class ApiRefusal(Exception):
    def __init__(self, errorcode: str, message: str, status: int, **extra):
        super().__init__(message)
        self.errorcode = errorcode
        self.message = message
        self.status = status
        self.extra = extra


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once; only its digest is stored
    record: ApiToken


def service_scopes(service: str) -> frozenset[str]:
    """The /api/mfa operations this service's tokens may call."""
    configured = settings.get(SERVICE_SCOPES)
    return frozenset(configured[service]) if service in configured else frozenset(SCOPES)


def enabled_service(name: str | None) -> str | None:
    """The service's name as configured, when it exists and is enabled (names ignore case)."""
    wanted = (name or "").strip().lower()
    return next((n for n, on in settings.get(SERVICES).items() if on and n.lower() == wanted), None)


def _refuse(reason: str, refusal: ApiRefusal, employee: Employee | None = None, username: str = "",
            service: str = "") -> ApiRefusal:
    details = {"reason": reason, "service": service[:64]}
    if employee is None and username:
        details["username_fingerprint"] = fingerprint(username)
    record_event("api.token_refused", actor=employee, subject=employee, details=details)
    db.session.commit()
    return refusal


def _password_then_service(username: str, password: str, service_name: str | None) -> tuple[Employee, str]:
    """The password first (so that service names tell nothing to someone without one), then the service."""
    employee = authenticate(username, password)  # counts failures and locks, audits signin.failed
    if employee is None:
        raise _refuse("wrong login", ApiRefusal("invalidlogin", "Wrong username or password.", 401),
                      username=username, service=service_name or "")
    service = enabled_service(service_name)
    if service is None:
        raise _refuse("service not available", ApiRefusal(
            "servicenotavailable", "This service is not available.", 403), employee, service=service_name or "")
    return employee, service


def issue_token(username: str, password: str, service_name: str, otp: str | None, address: str,
                method: str | None = None, challenge: str | None = None) -> IssuedToken:
    """The password, then the service, then, with "Enable MFA for the mobile app" on, the second
    factor: `otp`, and for a code sent by POST /api/token/code its `method` and `challenge`."""
    employee, service = _password_then_service(username, password, service_name)
    verification = (_second_factor(employee, otp, method, challenge, address, service)
                    if settings.get(MFA_FOR_APPS) else None)
    token = new_api_token()
    now = utcnow()
    record = ApiToken(employee_id=employee.id, service=service, token_digest=api_token_digest(token),
                      created_at=now, expires_at=now + timedelta(days=settings.get(LIFETIME_DAYS)),
                      created_address=address, session_mark=session_mark(employee),
                      mfa_verified=verification is not None)
    db.session.add(record)
    lockout.clear(employee, lockout.PASSWORD)
    employee.last_login_at = now
    db.session.flush()
    record_event("api.token_issued", actor=employee, subject=employee,
                 details={"service": service, "token_id": record.id, "mfa": record.mfa_verified,
                          "expires_at": record.expires_at.isoformat(timespec="seconds")})
    db.session.commit()
    if verification is not None:
        mfa.notify_after_sign_in(employee, verification)  # "a recovery code was used" by email
    return IssuedToken(token, record)


def session_mark(employee: Employee) -> str:
    return hashlib.sha256(b"api-token-session:" + employee.session_token.encode()).hexdigest()[:16]


def _required_second_step(employee: Employee, service: str) -> None:
    """Refuse unless the employee can give a second factor here: MFA must be asked of the app and
    of this employee (else there is nothing to send), and they must have signed up."""
    status = mfa.status(employee)
    if not (settings.get(MFA_FOR_APPS) and status.must_use):
        raise _refuse("no second factor asked", ApiRefusal(
            "mfanotrequired", "This service asks this employee for no second factor: get the token with the "
            "password alone.", 409), employee, service=service)
    if not status.enrolled:
        raise _signup_required(employee, service)


def _signup_required(employee: Employee, service: str) -> ApiRefusal:
    return _refuse("mfa signup required", ApiRefusal(
        "mfarequired", MFA_REQUIRED, 403, hint="Sign up for MFA in the back office first."),
        employee, service=service)


def _locked(employee: Employee, locked_until, service: str) -> ApiRefusal:
    return _refuse("second step locked", ApiRefusal(
        "accountlocked", "Too many wrong codes. Try again later.", 403,
        retry_after=locked_until.isoformat(timespec="seconds") + "Z"), employee, service=service)


def method_refusal(employee: Employee, method: str) -> ApiRefusal | None:
    """The refusal for a method that cannot send this employee a code, naming the ones they can use."""
    if method in mfa.sending_methods(employee):
        return None
    return ApiRefusal("methodnotavailable", "This employee cannot be sent a code that way.", 400, field="method",
                      methods=mfa.method_names(employee))


def not_sent_refusal(not_sent: mfa.CodeNotSent, now) -> ApiRefusal:
    """The API's answer when a code could not be sent: the send limit (429), or delivery (502)."""
    if not_sent.wait:
        return ApiRefusal("codealreadysent", not_sent.message, 429,
                          retry_after=(now + timedelta(seconds=not_sent.wait)).isoformat(timespec="seconds") + "Z")
    return ApiRefusal("codenotsent", not_sent.message, 502)


def send_code(username: str, password: str, service_name: str, method: str, address: str) -> mfa.SentCode:
    """POST /api/token/code: send a sign-in code by email or SMS to an employee who must give a
    second factor for this service. The code only works with the challenge returned here."""
    employee, service = _password_then_service(username, password, service_name)
    _required_second_step(employee, service)
    now = utcnow()
    if employee.is_second_step_locked(now):
        raise _locked(employee, employee.mfa_locked_until, service)
    refusal = method_refusal(employee, method)
    if refusal is not None:
        raise _refuse("method not available", refusal, employee, service=service)
    db.session.commit()  # what the password check changed (a rehash) stays, whatever the sending does
    try:
        return mfa.send_challenge_code(employee, method, mfa.TOKEN_CODE)
    except mfa.CodeNotSent as not_sent:
        refusal = not_sent_refusal(not_sent, now)
        raise _refuse(refusal.errorcode, refusal, employee, service=service) from None


def _second_factor(employee: Employee, otp: str | None, method: str | None, challenge: str | None, address: str,
                   service: str) -> mfa.Verification | None:
    """An employee who must use MFA (enrolled, or required by Mode or policy) gives a code: an
    authenticator app code or a recovery code as typed, or a code sent by POST /api/token/code
    with its method and challenge; with the sign-in's replay and lockout rules.
    Returns the verification, or None when no code was needed."""
    status = mfa.status(employee)
    if not status.must_use:
        return None
    if not status.enrolled:  # no code would do: say what to do first
        raise _signup_required(employee, service)
    if not (otp or "").strip():
        raise _refuse("mfa required", ApiRefusal("mfarequired", MFA_REQUIRED, 403, methods=mfa.method_names(employee)),
                      employee, service=service)
    if method:
        result = mfa.verify(employee, method, otp.strip(), address, commit=False,
                            binding=mfa.challenge_binding(mfa.TOKEN_CODE, challenge or ""))
    else:
        result = mfa.verify_typed_code(employee, otp, address, commit=False)
    if result.locked_until:
        raise _locked(employee, result.locked_until, service)
    if not result.ok:
        raise _refuse("wrong code", ApiRefusal("invalidotp", "That code is not valid.", 401), employee,
                      service=service)
    return result


@cache
def _bearer_query():
    """The token, its employee (kept on record.employee, so not read again) and the settings
    version (portal.settings) in one query; built once, as it runs on every API call."""
    return (db.select(ApiToken, settings.version_column()).join(ApiToken.employee)
            .options(contains_eager(ApiToken.employee)).where(ApiToken.token_digest == bindparam("digest")))


def bearer_token(token: str | None) -> ApiToken | None:
    """The live token with this value, or None. Live: not expired or revoked, its service enabled,
    its employee active with the session token it was issued under, and, while "Enable MFA for
    the mobile app" is on, issued with a second factor if the employee must use MFA.
    Notes its use at most once a minute."""
    if not token or len(token) > 200:
        return None
    row = db.session.execute(_bearer_query(), {"digest": api_token_digest(token)}).first()
    if row is None:
        return None
    record, version = row
    settings.note_version(version)
    now = utcnow()
    if not record.is_valid(now) or enabled_service(record.service) is None:
        return None  # a disabled service's tokens stop working until it is enabled again
    employee = record.employee
    if not employee.active or record.session_mark != session_mark(employee):
        return None
    if not record.mfa_verified and settings.get(MFA_FOR_APPS) and mfa.status(employee).must_use:
        return None  # issued with a password alone, before MFA was asked of this employee
    if record.last_used_at is None or now - record.last_used_at >= LAST_USED_WRITE_INTERVAL:
        record.last_used_at = now
        db.session.commit()
    return record


def live_tokens(employee: Employee) -> list[ApiToken]:
    """The employee's tokens that still work, newest first."""
    now = utcnow()
    return list(db.session.scalars(
        db.select(ApiToken).where(ApiToken.employee_id == employee.id, ApiToken.revoked_at.is_(None),
                                  ApiToken.expires_at > now)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def revoke_token(employee: Employee, token_id: int, actor: Employee, reason: str) -> bool:
    """Revoke one of the employee's tokens; False when there is no such live token."""
    now = utcnow()
    revoked = db.session.execute(
        update(ApiToken).where(ApiToken.id == token_id, ApiToken.employee_id == employee.id,
                               ApiToken.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason[:64])).rowcount == 1
    if revoked:
        record_event("api.token_revoked", actor=actor, subject=employee, details={"token_id": token_id,
                                                                                  "reason": reason})
    db.session.commit()
    return revoked
