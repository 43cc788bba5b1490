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
from portal.models import Employee, Setting
from portal.security.audit import record_event
from portal.services.employees import EmployeeData, EmployeeRuleError, create_employee

TOKEN_KEY = "setup.token_hash"  # noqa: S105  (a setting name, not a secret)
settings.register(TOKEN_KEY, None)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def setup_needed() -> bool:
    return db.session.scalar(db.select(func.count(Employee.id))) == 0


def issue_setup_token() -> str | None:
    if not setup_needed():
        return None
    token = secrets.token_urlsafe(32)
    settings.save({TOKEN_KEY: _digest(token)}, audit=False)
    return token


def setup_token_valid(token: str) -> bool:
    stored = settings.get(TOKEN_KEY)
    return bool(stored) and setup_needed() and hmac.compare_digest(stored, _digest(token))


def create_first_administrator(data: EmployeeData, password: str) -> Employee | None:
    """Spend the setup token and create the administrator in one transaction.

    The token row is deleted first: of two simultaneous submissions only one
    deletes it, and the other creates nothing (returns None).
    """
    claimed = db.session.execute(db.delete(Setting).where(Setting.key == TOKEN_KEY)).rowcount == 1
    if not claimed or not setup_needed():
        db.session.rollback()
        return None
    settings.bump_version()  # the token row is gone: no worker may keep it in its copy
    try:
        employee = create_employee(data, password, actor=None, commit=False)
    except EmployeeRuleError:
        db.session.rollback()  # the token stays valid for a corrected form
        raise
    record_event("setup.completed", actor=employee, subject=employee)
    db.session.commit()
    return employee
