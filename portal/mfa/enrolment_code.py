"""The single-use enrolment code an employee needs before Signup after a Reset MFA.

Sys Config › MFA "After Reset MFA, require an enrolment code": without it, whoever
knows the password could enrol their own authenticator after a reset. The code is
valid for VALIDITY, stored as a keyed hash, and spent when the new authenticator
is activated.
"""
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from flask import current_app

from portal.models import Employee

VALIDITY = timedelta(hours=24)
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def _digest(code: str) -> str:
    normalised = code.strip().upper().replace("-", "").replace(" ", "")
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"enrolment-code:" + normalised.encode(), hashlib.sha256).hexdigest()


def issue(employee: Employee, now: datetime) -> str:
    """Give the employee a new code (replacing any earlier one); the plaintext is returned once."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(10))
    employee.mfa_enrolment_code_hash = _digest(raw)
    employee.mfa_enrolment_code_expires_at = now + VALIDITY
    return f"{raw[:5]}-{raw[5:]}"


def required(employee: Employee) -> bool:
    return employee.mfa_enrolment_code_hash is not None


def matches(employee: Employee, code: str, now: datetime) -> bool:
    if not required(employee) or not code or employee.mfa_enrolment_code_expires_at <= now:
        return False
    return hmac.compare_digest(employee.mfa_enrolment_code_hash, _digest(code))


def spend(employee: Employee) -> None:
    employee.mfa_enrolment_code_hash = None
    employee.mfa_enrolment_code_expires_at = None
