"""The one-time setup link that creates the first administrator.

There is no default password: while the database has no employee, each call
of `issue_setup_token` makes a new token (only its hash is stored, so the
previous link stops working) and the link works until the administrator exists.
"""
import hashlib
import hmac
import secrets

from sqlalchemy import func

from portal import settings
from portal.extensions import db
from portal.models import Employee


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def setup_needed() -> bool:
    return db.session.scalar(db.select(func.count(Employee.id))) == 0


def issue_setup_token() -> str | None:
    if not setup_needed():
        return None
    token = secrets.token_urlsafe(32)
    settings.save({"setup.token_hash": _digest(token)}, audit=False)
    return token


def setup_token_valid(token: str) -> bool:
    stored = settings.get("setup.token_hash")
    return bool(stored) and setup_needed() and hmac.compare_digest(stored, _digest(token))


def consume_setup_token() -> None:
    """Called in the same transaction that creates the administrator."""
    settings.save({"setup.token_hash": None}, audit=False)
