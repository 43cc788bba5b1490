"""Single-use recovery codes for when the authenticator is lost.

Codes carry 50 random bits each, so a keyed SHA-256 (HMAC with SECRET_KEY)
stores them safely without Argon2's cost on every check; using one is a
conditional UPDATE (`used_at IS NULL`), so a code works once even under races.
"""
import hashlib
import hmac
import secrets

from flask import current_app
from sqlalchemy import func, update

from portal.extensions import db
from portal.models import RecoveryCode

NAME = "recovery"
COUNT = 10
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
LENGTH = 10


def _digest(code: str) -> str:
    normalised = code.strip().lower().replace("-", "").replace(" ", "")
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"recovery-code:" + normalised.encode(), hashlib.sha256).hexdigest()


def _new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def generate(employee_id: int) -> list[str]:
    """Replace the employee's codes with COUNT new ones; the plaintext is returned once, never stored."""
    delete_all(employee_id)
    codes = [_new_code() for _ in range(COUNT)]
    db.session.add_all(RecoveryCode(employee_id=employee_id, code_hash=_digest(c)) for c in codes)
    return codes


def use(employee_id: int, code: str, now) -> bool:
    """Spend a code: True only for the one request that marks it used."""
    result = db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.employee_id == employee_id, RecoveryCode.code_hash == _digest(code),
               RecoveryCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def remaining(employee_id: int) -> int:
    return db.session.scalar(db.select(func.count(RecoveryCode.id)).where(
        RecoveryCode.employee_id == employee_id, RecoveryCode.used_at.is_(None)))


def delete_all(employee_id: int) -> None:
    db.session.execute(RecoveryCode.__table__.delete().where(RecoveryCode.employee_id == employee_id))
