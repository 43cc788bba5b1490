"""Creating and changing employees: the rules every entry point shares
(Employee maintenance, the setup page, the CLI and the demo loader)."""
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func

from portal.clock import utcnow
from portal.extensions import db
from portal.models import Employee, StatusLevel
from portal.models.employee import search_key
from portal.models.substring import contains_text
from portal.security import lockout
from portal.security.audit import record_event
from portal.security.passwords import hash_password, verify_password
from portal.security.session_guard import end_all_access
from portal.security.signin import register_failure

# Page numbers beyond this read as this: still an empty page, but the row offset stays a
# number every database accepts (a 20-digit page must not become a server error).
MAX_PAGE = 1_000_000

# Usernames: what Employee maintenance can save, so an administrator made by the setup
# page or the CLI can later be edited there without renaming.
USERNAME_MAX_LENGTH = 64
USERNAME_PATTERN = r"^[A-Za-z0-9._@-]+$"
USERNAME_MESSAGE = "A username uses letters, digits and . _ @ - only."
FULL_NAME_MAX_LENGTH = 120

# Fields an administrator edits on Employee maintenance › Edit, in form order.
EDITABLE_FIELDS = ("username", "full_name", "email", "mobile_phone", "status_level", "active", "access_policy_id")


class EmployeeRuleError(ValueError):
    """A change that the rules refuse; `field` names the form field it belongs to."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class EmployeeData:
    username: str
    full_name: str
    email: str | None = None
    mobile_phone: str | None = None
    status_level: int = 1
    active: bool = True


def username_taken(username: str, except_id: int | None = None) -> bool:
    query = db.select(Employee.id).where(Employee.username_key == username.strip().lower())
    if except_id is not None:
        query = query.where(Employee.id != except_id)
    return db.session.scalar(query) is not None


def check_names(username: str, full_name: str) -> None:
    """Raise EmployeeRuleError unless the username and full name fit the rules and the columns."""
    username = username.strip()
    if not re.fullmatch(USERNAME_PATTERN, username):
        raise EmployeeRuleError("username", USERNAME_MESSAGE)
    if len(username) > USERNAME_MAX_LENGTH:
        raise EmployeeRuleError("username", f"A username has at most {USERNAME_MAX_LENGTH} characters.")
    if not full_name.strip() or len(full_name.strip()) > FULL_NAME_MAX_LENGTH:
        raise EmployeeRuleError("full_name", f"Enter a full name of 1 to {FULL_NAME_MAX_LENGTH} characters.")


ACTIVE_ADMINISTRATOR = (Employee.status_level >= StatusLevel.ADMINISTRATOR) & Employee.active.is_(True)
LAST_ADMINISTRATOR_MESSAGE = "This is the last active administrator; make another one first."


def count_active_administrators() -> int:
    return db.session.scalar(db.select(func.count(Employee.id)).where(ACTIVE_ADMINISTRATOR))


def _lock_active_administrators() -> None:
    """Lock the active administrators' rows until the transaction ends (PostgreSQL; SQLite ignores
    FOR UPDATE), so that two edits that each take one administrator away run one after the other
    and the second sees the first. Without it, two administrators demoting each other at the same
    moment would each still count the other and leave none."""
    db.session.execute(db.select(Employee.id).where(ACTIVE_ADMINISTRATOR).order_by(Employee.id).with_for_update())


def search_employees(query: str | None, page: int = 1, per_page: int = 50, locked_at=None):
    """One page of employees by username, matching name, username or email (case-insensitive);
    with `locked_at`, only those whose password or second step is locked at that time.

    Both sides are lower-cased in Python (Employee.search_text and search_key), so a plain
    LIKE ignores case beyond ASCII on SQLite and PostgreSQL alike. The page is found over
    ids alone, off the (username_key, search_text) index without reading a table row; only
    the page's own rows are loaded after."""
    stmt = db.select(Employee.id).order_by(Employee.username_key)
    if locked_at is not None:
        stmt = stmt.where((Employee.locked_until > locked_at) | (Employee.mfa_locked_until > locked_at))
    needle = search_key(query or "")
    if needle:
        stmt = stmt.where(contains_text(Employee.search_text, needle))
    result = db.paginate(stmt, page=min(max(page, 1), MAX_PAGE), per_page=per_page, error_out=False,
                         max_per_page=100)
    if result.items:
        rows = db.session.scalars(db.select(Employee).where(Employee.id.in_(result.items)))
        by_id = {employee.id: employee for employee in rows}
        result.items = [by_id[i] for i in result.items if i in by_id]
    return result


def create_employee(data: EmployeeData, password: str, actor: Employee | None, commit: bool = True) -> Employee:
    """Create an employee; with commit=False the caller finishes the transaction (the setup page)."""
    check_names(data.username, data.full_name)
    if username_taken(data.username):
        raise EmployeeRuleError("username", "This username is already in use.")
    email = (data.email or "").strip().lower() or None  # as Employee maintenance saves it
    employee = Employee(**(vars(data) | {"email": email}), password_hash=hash_password(password),
                        password_changed_at=utcnow())
    db.session.add(employee)
    db.session.flush()
    record_event(
        "employee.created",
        actor=actor or employee,
        subject=employee,
        details={k: getattr(employee, k) for k in EDITABLE_FIELDS},
    )
    if commit:
        db.session.commit()
    return employee


def update_employee(employee: Employee, changes: dict[str, Any], actor: Employee) -> dict[str, Any]:
    """Apply an administrator's edit; returns {field: {old, new}} of what changed."""
    diff = {
        k: {"old": getattr(employee, k), "new": v}
        for k, v in changes.items()
        if k in EDITABLE_FIELDS and getattr(employee, k) != v
    }
    if not diff:
        return diff
    if "username" in diff and username_taken(changes["username"], except_id=employee.id):
        raise EmployeeRuleError("username", "This username is already in use.")
    # Any change of status or Active is checked, not only one that takes an administrator away by
    # the employee as this request loaded it: a concurrent edit may have changed them since.
    may_lose_admin = "status_level" in diff or "active" in diff
    if may_lose_admin:
        _lock_active_administrators()
    for key, value in diff.items():
        setattr(employee, key, value["new"])
    if may_lose_admin:
        # Counted after the change is written: on SQLite the write holds the database's one write
        # lock, on PostgreSQL the rows locked above, so a concurrent edit is counted too.
        db.session.flush()
        if count_active_administrators() == 0:
            db.session.rollback()
            raise EmployeeRuleError("active" if "active" in diff else "status_level", LAST_ADMINISTRATOR_MESSAGE)
    if "active" in diff and not employee.active:
        end_all_access(employee, "employee deactivated")
    record_event("employee.changed", actor=actor, subject=employee, details=diff)
    db.session.commit()
    return diff


def check_current_password(employee: Employee, password: str) -> bool:
    """The current password asked before a change: a wrong one counts like a failed sign-in,
    and when that locks the account, every session of it ends (someone is guessing)."""
    if verify_password(employee.password_hash, password or ""):
        return True
    now = utcnow()
    register_failure(employee, now)
    record_event("signin.failed", actor=employee, subject=employee, details={"reason": "wrong current password"})
    if employee.is_locked(now):
        end_all_access(employee, "account locked")
    db.session.commit()
    return False


def set_password(employee: Employee, password: str, actor: Employee, keep_session=None) -> None:
    """Set a new password and end the employee's other sessions.

    An administrator setting someone's password ends all their sessions; an
    employee changing their own keeps only the session they are using.
    """
    employee.password_hash = hash_password(password)
    employee.password_changed_at = utcnow()
    end_all_access(employee, "password changed", keep=keep_session)
    if actor.id == employee.id:
        record_event("password.changed", actor=actor, subject=employee)
    else:
        # The administrator has vouched for the employee: a password lock no longer serves.
        lockout.clear(employee, lockout.PASSWORD)
        record_event("password.set_by_admin", actor=actor, subject=employee)
    db.session.commit()
