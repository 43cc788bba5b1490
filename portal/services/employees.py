"""Creating and changing employees: the rules every entry point shares
(Employee maintenance, the setup page, the CLI and the demo loader)."""
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func

from portal.clock import utcnow
from portal.extensions import db
from portal.models import Employee, StatusLevel
from portal.security.audit import record_event
from portal.security.passwords import hash_password
from portal.security.session_guard import end_all_sessions

# Fields an administrator edits on Employee maintenance › Edit, in form order.
EDITABLE_FIELDS = ("username", "full_name", "email", "mobile_phone", "status_level", "active")


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


def count_active_administrators() -> int:
    return db.session.scalar(
        db.select(func.count(Employee.id)).where(
            Employee.status_level >= StatusLevel.ADMINISTRATOR, Employee.active.is_(True)
        )
    )


def search_employees(query: str | None, page: int = 1, per_page: int = 50):
    """One page of employees by username, matching name, username or email (case-insensitive)."""
    stmt = db.select(Employee).order_by(Employee.username_key)
    if query:
        pattern = "%" + query.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            Employee.username_key.like(pattern, escape="\\")
            | func.lower(Employee.full_name).like(pattern, escape="\\")
            | Employee.email.like(pattern, escape="\\")
        )
    return db.paginate(stmt, page=max(page, 1), per_page=per_page, error_out=False, max_per_page=100)


def create_employee(data: EmployeeData, password: str, actor: Employee | None) -> Employee:
    if username_taken(data.username):
        raise EmployeeRuleError("username", "This username is already in use.")
    employee = Employee(**vars(data), password_hash=hash_password(password), password_changed_at=utcnow())
    db.session.add(employee)
    db.session.flush()
    record_event(
        "employee.created",
        actor=actor or employee,
        subject=employee,
        details={k: getattr(employee, k) for k in EDITABLE_FIELDS},
    )
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
    losing_admin = employee.is_administrator and employee.active and (
        changes.get("status_level", employee.status_level) < StatusLevel.ADMINISTRATOR
        or not changes.get("active", employee.active)
    )
    if losing_admin and count_active_administrators() <= 1:
        field = "active" if not changes.get("active", True) else "status_level"
        raise EmployeeRuleError(field, "This is the last active administrator; make another one first.")
    for key, value in diff.items():
        setattr(employee, key, value["new"])
    if "active" in diff and not employee.active:
        employee.rotate_session_token()
        end_all_sessions(employee, "employee deactivated")
    record_event("employee.changed", actor=actor, subject=employee, details=diff)
    db.session.commit()
    return diff


def set_password(employee: Employee, password: str, actor: Employee, keep_session=None) -> None:
    """Set a new password and end the employee's other sessions.

    An administrator setting someone's password ends all their sessions; an
    employee changing their own keeps only the session they are using.
    """
    employee.password_hash = hash_password(password)
    employee.password_changed_at = utcnow()
    employee.rotate_session_token()
    end_all_sessions(employee, "password changed", keep=keep_session)
    event = "password.changed" if actor.id == employee.id else "password.set_by_admin"
    record_event(event, actor=actor, subject=employee)
    db.session.commit()
