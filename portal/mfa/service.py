"""The MFA service: prepare / activate / verify / deactivate / status.

Views ask this module what an employee has and may do, and hand it codes; it
owns the transaction and writes the audit rows. Second factors are looked up
in METHODS, so a new provider needs no change in a view.
"""
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from portal import mail
from portal.clock import utcnow
from portal.extensions import db
from portal.mfa import enrolment_code
from portal.mfa import settings as mfa_settings
from portal.mfa.methods import (
    METHODS,
    SIGNIN,
    SIGNUP,
    Method,
    access_policy,
    active_credentials,
    enrollable_methods,
)
from portal.mfa.providers import email_otp, recovery_codes, sent_code, sms_otp, totp
from portal.models import Employee, MfaCredential
from portal.models.mfa import ACTIVE, PENDING
from portal.security import lockout
from portal.security.audit import record_event
from portal.security.passwords import verify_password
from portal.security.session_guard import end_all_access

LOW_RECOVERY_CODES = 3
# Providers that send their codes, by method name.
SENDERS = {email_otp.NAME: email_otp, sms_otp.NAME: sms_otp}


@dataclass(frozen=True)
class MfaStatus:
    enabled: bool  # Sys Config › MFA Status is On
    mandatory: bool
    enrolled: bool

    @property
    def second_step(self) -> bool:
        """After the password, does this employee see the one-time-password screen?"""
        return self.enabled

    @property
    def may_skip(self) -> bool:
        # Enrolled employees chose MFA: a stolen password alone must not skip it (docs/security.md).
        return self.enabled and not self.mandatory and not self.enrolled

    @property
    def may_sign_up(self) -> bool:
        return self.enabled and not self.enrolled

    @property
    def must_sign_up(self) -> bool:
        return self.enabled and self.mandatory and not self.enrolled

    @property
    def must_use(self) -> bool:
        """Must give a second factor to get in: enrolled, or required by Mode or Access policy."""
        return self.enabled and (self.enrolled or self.mandatory)


def second_step_needed() -> bool:
    """After a correct password, does anyone see the one-time-password screen? (MFA Status On)"""
    return mfa_settings.current().enabled


def is_enrolled(employee: Employee) -> bool:
    """Any active credential, even of a method switched off since: such an employee is never
    offered Signup again, but told to use another method or a recovery code."""
    return bool(active_credentials(employee.id))


def is_active_credential(employee: Employee, credential_id: int | None) -> bool:
    return credential_id is not None and any(c.id == credential_id for c in active_credentials(employee.id))


def status(employee: Employee) -> MfaStatus:
    """An Access policy that requires MFA makes it mandatory for its members even in Optional
    mode; with MFA Status Off, policies change nothing."""
    cfg = mfa_settings.current()
    policy = access_policy(employee)
    mandatory = cfg.mandatory or (policy is not None and policy.mfa_required)
    return MfaStatus(enabled=cfg.enabled, mandatory=mandatory, enrolled=is_enrolled(employee))


def methods_for(employee: Employee) -> list[Method]:
    return [m for m in METHODS.values() if m.available(employee)]


def methods_overview(employee: Employee) -> list[tuple[Method, bool]]:
    """Each method the employee can use now or sign up for, with whether they can use it now."""
    usable = {m.name for m in methods_for(employee)}
    offered = usable | {m.name for m in enrollable_methods(employee)}
    return [(m, m.name in usable) for m in METHODS.values() if m.name in offered]


# --- enrolment -------------------------------------------------------------

class EnrolmentCodeRefused(ValueError):
    """Signup needs the enrolment code from the last Reset MFA, and this one is wrong or expired."""


def enrolment_code_required(employee: Employee) -> bool:
    return enrolment_code.required(employee)


def prepare(employee: Employee, code: str | None = None, address: str | None = None,
            method: str = "totp", binding: str = "") -> totp.Enrolment | MfaCredential:
    """Start Signup for MFA: a pending credential, active only once a code proves it.

    For the app, a new secret, stored encrypted (returns the Enrolment the popup shows);
    for email, a code sent to the registered address, bound to this browser (returns the
    pending credential). After a Reset MFA that issued an enrolment code, `code` must match
    it; a wrong one counts as a failed second-step attempt and raises EnrolmentCodeRefused.
    """
    now = utcnow()
    if enrolment_code.required(employee) and (employee.is_second_step_locked(now)
                                              or not enrolment_code.matches(employee, code, now)):
        if not employee.is_second_step_locked(now):
            _register_failure(employee, now, "enrolment code", address)
        raise EnrolmentCodeRefused
    if method not in {m.name for m in enrollable_methods(employee)}:
        raise CodeNotSent  # not enabled, not allowed by the employee's Access policy, or nowhere to send
    if method in SENDERS:
        return _prepare_sent_code(employee, method, binding, now)
    cfg = mfa_settings.current()
    enrolment = totp.prepare(employee.id, cfg.totp, employee.username, cfg.issuer)
    db.session.commit()
    return enrolment


class CodeNotSent(RuntimeError):
    """The code could not be sent now; `wait` seconds until the next try is allowed (0: delivery failed)."""

    def __init__(self, wait: int = 0, method: str | None = None):
        super().__init__(f"code not sent (wait {wait} s)")
        self.wait = wait
        self.method = method

    @property
    def message(self) -> str:
        """What the employee reads."""
        if self.wait:
            return f"A code was sent a moment ago. You can ask for another in {self.wait} seconds."
        if self.method in SENDERS:
            return SENDERS[self.method].FAILURE_MESSAGE
        return "We couldn't send the code. Try another method or contact your administrator."


def _prepare_sent_code(employee: Employee, method: str, binding: str, now: datetime) -> MfaCredential:
    db.session.execute(MfaCredential.__table__.delete().where(
        MfaCredential.employee_id == employee.id, MfaCredential.provider == method,
        MfaCredential.status == PENDING))
    credential = MfaCredential(employee_id=employee.id, provider=method, status=PENDING)
    db.session.add(credential)
    _send(employee, method, SIGNUP, binding, now)
    return credential


def sent_destination(employee: Employee, method: str) -> str:
    """Where a code of this method goes, masked (a•••@example.com, +44•••••••123)."""
    return SENDERS[method].destination(employee)


def sent_code_validity_minutes(method: str) -> int:
    return mfa_settings.current().sent_code(method).validity_minutes


def method_names(employee: Employee) -> list[str]:
    """The names of the methods this employee can use now, in METHODS' order."""
    return [m.name for m in methods_for(employee)]


def sending_methods(employee: Employee) -> list[str]:
    """The methods by which this employee can be sent a sign-in code now (email, SMS)."""
    return [m.name for m in methods_for(employee) if m.sends_code]


# Clients known only by a challenge they send back with the code, one kind per place that sends
# codes this way; a code works only where it was asked for, and a new one voids the earlier ones
# of its kind. (Browsers and API tokens bind codes to their session or token instead.)
TOKEN_CODE = "token-code"  # noqa: S105 - a name, not a secret: POST /api/token/code, for POST /api/token
POS_LINK = "pos-link"  # the Web POS link popup
CHALLENGE_KINDS = (TOKEN_CODE, POS_LINK)


@dataclass(frozen=True)
class SentCode:
    method: str
    sent_to: str  # masked
    valid_minutes: int
    challenge: str  # the client sends it back with the code; only its digest is stored


def send_challenge_code(employee: Employee, method_name: str, kind: str) -> SentCode:
    """send_code for a client of this kind: the code is bound to a new random challenge (stored as
    a digest: whoever reads the database cannot use it). Raises CodeNotSent as send_code does."""
    challenge = secrets.token_urlsafe(32)
    sent_to = send_code(employee, method_name, challenge_binding(kind, challenge))
    return SentCode(method_name, sent_to, sent_code_validity_minutes(method_name), challenge)


def challenge_binding(kind: str, challenge: str) -> str:
    if kind not in CHALLENGE_KINDS:
        raise ValueError(f"unknown kind of code challenge {kind!r}")
    return f"{kind}:" + hashlib.sha256(b"sent-code-challenge:" + challenge.encode()).hexdigest()[:52]


def _lock_employee(employee: Employee) -> None:
    """Take the employee's row lock (PostgreSQL) before touching their sent codes: sending and
    checking a code take the employee's row and the code's row in this one order, so they never
    wait on each other in a circle."""
    db.session.execute(db.select(Employee.id).where(Employee.id == employee.id).with_for_update())


def send_code(employee: Employee, method_name: str, binding: str) -> str:
    """Send a sign-in code by email or SMS for this browser; returns where it went (masked).

    Raises CodeNotSent with the wait when the per-employee send limit applies, or with
    wait 0 when delivery failed (nothing usable is left behind).
    """
    method = METHODS.get(method_name)
    if method is None or not method.sends_code or not method.available(employee):
        raise CodeNotSent
    _send(employee, method_name, SIGNIN, binding, utcnow())
    return sent_destination(employee, method_name)


def _send(employee: Employee, method: str, purpose: str, binding: str, now: datetime) -> None:
    """Issue a code bound to this browser and deliver it; the code is committed before the
    (possibly slow) delivery, so no transaction waits on the network, and voided if it fails.

    The send limit is counted after the new code is written and with the employee's row locked
    (PostgreSQL; on SQLite the write holds the one write lock), so requests sent at the same
    moment are counted one after the other, not each against the state before them."""
    _lock_employee(employee)
    cfg = mfa_settings.current().sent_code(method)
    kind = binding.partition(":")[0]
    challenge, code = sent_code.issue(
        employee.id, method, purpose, binding, cfg.length, timedelta(minutes=cfg.validity_minutes), now,
        replaces_prefix=f"{kind}:" if kind in CHALLENGE_KINDS else None)
    db.session.flush()
    wait = sent_code.wait_before_next_send(employee.id, now, excluding=challenge.id)
    if wait:
        db.session.rollback()
        raise CodeNotSent(wait, method)
    db.session.commit()
    if not SENDERS[method].deliver(employee, code, cfg):
        challenge.closed_at = now
        record_event("mfa.code_not_sent", actor=employee, subject=employee, details={"method": method})
        db.session.commit()
        raise CodeNotSent(0, method)
    record_event("mfa.code_sent", actor=employee, subject=employee, details={"method": method, "purpose": purpose})
    db.session.commit()


def pending_credential(employee: Employee, credential_id: int | None) -> MfaCredential | None:
    """The pending credential this browser prepared (its id is kept in the session that made it),
    so another session of the same employee can neither see its secret nor activate it."""
    if credential_id is None:
        return None
    return db.session.scalar(db.select(MfaCredential).where(
        MfaCredential.id == credential_id, MfaCredential.employee_id == employee.id,
        MfaCredential.status == PENDING))


def pending_enrolment(employee: Employee, credential_id: int | None) -> totp.Enrolment | None:
    """The app enrolment (QR code and key) of this browser's pending credential."""
    credential = pending_credential(employee, credential_id)
    if credential is None or credential.provider != totp.NAME:
        return None
    return totp.enrolment_of(credential, employee.username, mfa_settings.current().issuer)


def activate(employee: Employee, credential_id: int | None, code: str,
             address: str | None = None, binding: str = "") -> list[str] | None:
    """Confirm the pending credential with a code (from the app, or the one sent);
    returns the new recovery codes once."""
    now = utcnow()
    if employee.is_second_step_locked(now):
        return None
    credential = pending_credential(employee, credential_id)
    if credential is None or not _proves(employee, credential, code, now, binding):
        _register_failure(employee, now, "signup", address)
        return None
    for old in active_credentials(employee.id, credential.provider):
        db.session.delete(old)
    credential.status = ACTIVE
    credential.activated_at = now
    enrolment_code.spend(employee)
    codes = recovery_codes.generate(employee.id)
    lockout.clear(employee, lockout.SECOND_STEP)
    record_event("mfa.signup", actor=employee, subject=employee, details={"method": credential.provider})
    db.session.commit()
    _notify(employee, "Multi-factor authentication is on for your account", "email/mfa_activated.txt", when=now)
    return codes


def _proves(employee: Employee, credential: MfaCredential, code: str, now: datetime, binding: str) -> bool:
    if credential.provider == totp.NAME:
        return totp.check(credential, code, now, mfa_settings.current().drift)
    cfg = mfa_settings.current().sent_code(credential.provider)
    return sent_code.check(employee.id, credential.provider, SIGNUP, binding, code, now, cfg.max_attempts).ok


# --- verification ----------------------------------------------------------

@dataclass(frozen=True)
class Verification:
    ok: bool
    locked_until: datetime | None = None
    recovery_codes_left: int | None = None
    method: str | None = None


def verify(employee: Employee, method_name: str, code: str, address: str | None = None,
           commit: bool = True, binding: str = "") -> Verification:
    """Check a second-factor code; every failure, empty or not, counts against the one counter.

    Failures are always committed. On success, commit=False leaves the transaction open
    for the caller to finish together with what the code unlocks (the new session).
    """
    now = utcnow()
    if employee.is_second_step_locked(now):
        return Verification(False, locked_until=employee.mfa_locked_until)
    method = METHODS.get(method_name)
    if method is not None and method.sends_code:
        _lock_employee(employee)  # before the code's row, as _send takes them
    if method is None or not code or not method.available(employee) or not method.check(employee, code, now, binding):
        return Verification(False, locked_until=_register_failure(employee, now, method_name, address))
    lockout.clear(employee, lockout.SECOND_STEP)
    left = recovery_codes.remaining(employee.id)
    if method_name == "recovery":
        record_event("mfa.recovery_code_used", actor=employee, subject=employee, details={"remaining": left})
    result = Verification(True, recovery_codes_left=left, method=method_name)
    if commit:
        db.session.commit()
        notify_after_sign_in(employee, result)
    return result


def verify_typed_code(employee: Employee, code: str, address: str | None = None,
                      commit: bool = True) -> Verification:
    """Check a code typed where no method is chosen (the POS link popup, the token endpoint):
    digits are an authenticator app code, anything else a recovery code."""
    typed = (code or "").strip().replace(" ", "")
    return verify(employee, "totp" if typed.isdigit() else "recovery", typed, address, commit=commit)


def notify_after_sign_in(employee: Employee, result: Verification) -> None:
    """After the session is committed: tell the employee by email that a recovery code was used."""
    if result.ok and result.method == "recovery":
        _notify(employee, "A recovery code was used on your account", "email/recovery_code_used.txt",
                left=result.recovery_codes_left, when=utcnow())


def _register_failure(employee: Employee, now: datetime, method: str, address: str | None) -> datetime | None:
    """Count and audit a failed second step, committed; returns the lock's end when the employee
    is now locked (by this failure, or by another request's meanwhile)."""
    cfg = mfa_settings.current()
    record_event("mfa.verify_failed", subject=employee, actor=employee, details={"method": method})
    if lockout.register_failure(employee, lockout.SECOND_STEP, now, cfg.failed_limit, cfg.lock_minutes,
                                mfa_settings.MAX_LOCK_MINUTES,
                                also={"mfa_last_failure_at": now, "mfa_last_failure_address": address}):
        record_event("mfa.locked", subject=employee, details={
            "until": employee.mfa_locked_until.isoformat(timespec="seconds"),
            "lock_number": employee.mfa_lockout_count})
    locked_until = employee.mfa_locked_until if employee.is_second_step_locked(now) else None
    db.session.commit()  # expires the employee: what the caller needs is returned, not read again
    return locked_until


# --- the employee's own changes (each after a fresh proof, see account/) -----

def confirm_identity(employee: Employee, password: str, code: str, address: str | None = None) -> bool:
    """Fresh proof before changing one's own MFA: the password and a current app code.

    A wrong password or code counts against the second-step lock like any wrong code.
    """
    now = utcnow()
    if employee.is_second_step_locked(now):
        return False
    if not verify_password(employee.password_hash, password or ""):
        _register_failure(employee, now, "password", address)
        return False
    return verify(employee, "totp", code, address).ok


def regenerate_recovery_codes(employee: Employee) -> list[str]:
    codes = recovery_codes.generate(employee.id)
    record_event("mfa.recovery_codes_regenerated", actor=employee, subject=employee)
    db.session.commit()
    return codes


def deactivate(employee: Employee) -> None:
    """The employee switches MFA off for themselves (Optional mode only; the view checks)."""
    db.session.execute(MfaCredential.__table__.delete().where(MfaCredential.employee_id == employee.id))
    recovery_codes.delete_all(employee.id)
    record_event("mfa.deactivated", actor=employee, subject=employee)
    db.session.commit()
    _notify(employee, "Multi-factor authentication is off for your account", "email/mfa_deactivated.txt",
            when=utcnow())


# --- administration --------------------------------------------------------

@dataclass(frozen=True)
class EmployeeMfaSummary:
    """What Employee maintenance › Edit shows about an employee's MFA."""

    enrolled_at: datetime | None
    last_used_at: datetime | None
    recovery_codes_left: int
    second_step_failures: int


def employee_mfa_summary(employee: Employee) -> EmployeeMfaSummary:
    active = active_credentials(employee.id)
    return EmployeeMfaSummary(
        enrolled_at=active[0].activated_at if active else None,
        last_used_at=active[0].last_used_at if active else None,
        recovery_codes_left=recovery_codes.remaining(employee.id),
        second_step_failures=employee.mfa_failed_count,
    )


def unlock(employee: Employee, actor: Employee) -> None:
    """Administrator's Unlock: clears the password and second-step locks and counters."""
    details = {"password_locked_until": _iso(employee.locked_until),
               "second_step_locked_until": _iso(employee.mfa_locked_until)}
    lockout.clear(employee, lockout.PASSWORD)
    lockout.clear(employee, lockout.SECOND_STEP)
    record_event("account.unlocked", actor=actor, subject=employee, details=details)
    db.session.commit()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None

def reset(employee: Employee, actor: Employee, reason: str) -> str | None:
    """Reset MFA: remove every credential and recovery code; the employee may sign up again.

    With "require an enrolment code" on, a new code is issued: emailed to the employee,
    or, when that is not possible, returned once for the administrator to hand over.
    """
    now = utcnow()
    db.session.execute(MfaCredential.__table__.delete().where(MfaCredential.employee_id == employee.id))
    recovery_codes.delete_all(employee.id)
    lockout.clear(employee, lockout.SECOND_STEP)
    code = enrolment_code.issue(employee, now) if mfa_settings.current().require_enrolment_code else None
    end_all_access(employee, "MFA reset")
    record_event("mfa.reset", actor=actor, subject=employee,
                 details={"reason": reason, "enrolment_code": "issued" if code else "not required"})
    db.session.commit()
    emailed = _notify(employee, "Your multi-factor authentication was reset", "email/mfa_reset.txt",
                      actor=actor, reason=reason, when=now, enrolment_code=code,
                      valid_until=now + enrolment_code.VALIDITY)
    return None if emailed else code


def _notify(employee: Employee, subject: str, template: str, **context) -> bool:
    """Email the employee about a change to their MFA; False when they have no address or it failed."""
    return bool(employee.email) and mail.send(employee.email, subject, template, employee=employee, **context)
