"""Failure counting with growing locks, for the password and for the second step.

Each counter lives on the employee row and is incremented in the database
(`count = count + 1`), so parallel requests on several workers cannot lose a
failure; at the threshold the account locks, each lock twice as long as the
one before, up to a maximum. Only a success clears the counters.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import inspect, update
from sqlalchemy.orm.attributes import set_committed_value

from portal.extensions import db
from portal.models import Employee


@dataclass(frozen=True)
class Counter:
    """Which columns of Employee hold one factor's failures, locks and lock end."""

    failures: str
    locks: str
    locked_until: str

    @property
    def columns(self) -> tuple[str, str, str]:
        return self.failures, self.locks, self.locked_until


PASSWORD = Counter("failed_login_count", "lockout_count", "locked_until")
SECOND_STEP = Counter("mfa_failed_count", "mfa_lockout_count", "mfa_locked_until")


def lock_period(lock_number: int, base_minutes: int, max_minutes: int) -> timedelta:
    """The n-th lock lasts the base period doubled n-1 times, up to the maximum."""
    minutes = base_minutes * 2 ** min(max(lock_number - 1, 0), 16)
    return timedelta(minutes=min(minutes, max_minutes))


def register_failure(employee: Employee, counter: Counter, now: datetime, threshold: int,
                     base_minutes: int, max_minutes: int, also: dict[str, object] | None = None) -> bool:
    """Count one failure atomically; lock at the threshold. Returns True when this failure locked.

    One `UPDATE … RETURNING` increments the counter, writes the columns in `also` (e.g. when and
    from where the failure came) and reads back the row as it now is: the count, and the locks
    that other workers may have committed since this request loaded the employee. The row stays
    locked until the caller commits, so two requests never both take the same lock number."""
    if inspect(employee).session is not db.session():
        raise ValueError("count failures on an employee loaded in this session: its lock is flushed with it")
    failures_column, locks_column, until_column = (getattr(Employee, name) for name in counter.columns)
    written = dict(also or {})
    failures, locks, locked_until = db.session.execute(
        update(Employee).where(Employee.id == employee.id)
        .values({failures_column: failures_column + 1,
                 **{getattr(Employee, name): value for name, value in written.items()}})
        .returning(failures_column, locks_column, until_column).execution_options(synchronize_session=False)
    ).one()
    for name, value in (written | dict(zip(counter.columns, (failures, locks, locked_until), strict=True))).items():
        set_committed_value(employee, name, value)  # what the row now holds: nothing left to flush
    if failures < threshold:
        return False
    lock_number = locks + 1
    setattr(employee, counter.locks, lock_number)
    setattr(employee, counter.failures, 0)
    setattr(employee, counter.locked_until, now + lock_period(lock_number, base_minutes, max_minutes))
    return True


def clear(employee: Employee, counter: Counter) -> None:
    setattr(employee, counter.failures, 0)
    setattr(employee, counter.locks, 0)
    setattr(employee, counter.locked_until, None)
