"""The password step of sign-in: credential check, failure counting and lockout.

Every refusal looks the same to the caller (`None`): unknown user, wrong
password, inactive and locked accounts cannot be told apart from outside, and
an unknown user costs the same hashing time as a known one.
"""
import hashlib
import hmac
from datetime import datetime, timedelta

from flask import current_app

from portal.clock import utcnow
from portal.extensions import db
from portal.models import Employee
from portal.security import lockout
from portal.security.audit import record_event
from portal.security.passwords import (
    burn_verification_time,
    hash_password,
    needs_rehash,
    verify_password,
)


def find_employee(username: str) -> Employee | None:
    key = (username or "").strip().lower()
    if not key:
        return None
    return db.session.scalar(db.select(Employee).where(Employee.username_key == key))


def fingerprint(text: str | None) -> str:
    """A keyed digest: the same unknown username tried twice reads the same in the audit log."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"username:" + (text or "").strip().lower().encode(), hashlib.sha256).hexdigest()[:12]


def lock_period(lock_number: int) -> timedelta:
    cfg = current_app.config
    return lockout.lock_period(lock_number, cfg["LOCKOUT_BASE_MINUTES"], cfg["LOCKOUT_MAX_MINUTES"])


def authenticate(username: str, password: str) -> Employee | None:
    """Return the employee when the password step passes, else None (after counting the failure)."""
    now = utcnow()
    employee = find_employee(username)
    if employee is None:
        burn_verification_time(password)
        # Not the text itself: people type their password into the username field.
        record_event("signin.failed", details={"reason": "unknown user", "username_fingerprint": fingerprint(username)})
        db.session.commit()
        return None

    password_ok = verify_password(employee.password_hash, password)
    if employee.is_locked(now):
        reason = "account locked"
    elif not employee.active:
        reason = "inactive"
    elif not password_ok:
        reason = "wrong password"
        register_failure(employee, now)
    else:
        if needs_rehash(employee.password_hash):
            employee.password_hash = hash_password(password)
        return employee
    record_event("signin.failed", subject=employee, details={"reason": reason})
    db.session.commit()
    return None


def register_failure(employee: Employee, now: datetime) -> None:
    cfg = current_app.config
    if lockout.register_failure(employee, lockout.PASSWORD, now, cfg["LOCKOUT_THRESHOLD"],
                                cfg["LOCKOUT_BASE_MINUTES"], cfg["LOCKOUT_MAX_MINUTES"]):
        record_event(
            "account.locked",
            subject=employee,
            details={"until": employee.locked_until.isoformat(timespec="seconds"),
                     "lock_number": employee.lockout_count},
        )


def register_success(employee: Employee) -> None:
    """Only a successful sign-in clears the failure count and the lock history."""
    lockout.clear(employee, lockout.PASSWORD)
    employee.last_login_at = utcnow()
