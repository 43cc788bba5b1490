"""Reading the audit log: filtered, newest first, keyset-paginated.

Keyset pages (`before`/`after` an id) stay as fast on page 20,000 as on
page 1, where OFFSET pagination on a million rows would not.
"""
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import or_

from portal.extensions import db
from portal.models import AuditEvent, Employee
from portal.security.signin import find_employee


@dataclass
class AuditFilter:
    username: str | None = None
    event: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def statement(self):
        """The filtered query, or None when the named employee does not exist (nothing matches)."""
        stmt = db.select(AuditEvent)
        if self.username:
            employee = find_employee(self.username)
            if employee is None:
                return None
            stmt = stmt.where(or_(AuditEvent.actor_id == employee.id, AuditEvent.subject_id == employee.id))
        if self.event:
            stmt = stmt.where(AuditEvent.event == self.event)
        if self.date_from:
            stmt = stmt.where(AuditEvent.occurred_at >= datetime.combine(self.date_from, time.min))
        if self.date_to:
            stmt = stmt.where(AuditEvent.occurred_at < datetime.combine(self.date_to + timedelta(days=1), time.min))
        return stmt


@dataclass
class AuditPage:
    items: list[AuditEvent]
    newer_than: int | None  # id to pass as `after` for the newer page, None on the first page
    older_than: int | None  # id to pass as `before` for the older page, None on the last page


def audit_page(filters: AuditFilter, before: int | None = None, after: int | None = None,
               per_page: int = 50) -> AuditPage:
    stmt = filters.statement()
    if stmt is None:
        return AuditPage([], None, None)
    if after is not None:
        rows = list(db.session.scalars(stmt.where(AuditEvent.id > after)
                                       .order_by(AuditEvent.id.asc()).limit(per_page + 1)))
        has_newer = len(rows) > per_page
        items = list(reversed(rows[:per_page]))
        has_older = True
    else:
        if before is not None:
            stmt = stmt.where(AuditEvent.id < before)
        rows = list(db.session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(per_page + 1)))
        items = rows[:per_page]
        has_older = len(rows) > per_page
        has_newer = before is not None
    return AuditPage(
        items=items,
        newer_than=items[0].id if items and has_newer else None,
        older_than=items[-1].id if items and has_older else None,
    )


CSV_COLUMNS = ["id", "time_utc", "event", "actor", "subject", "details", "client_address", "user_agent"]


def _cell(value) -> str:
    """Neutralise spreadsheet formulas (CSV injection) in text that users can influence."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _username(employee: Employee | None) -> str:
    return employee.username if employee is not None else ""


def audit_csv(filters: AuditFilter, batch: int = 1000) -> Iterator[str]:
    """The filtered log as CSV text chunks, newest first, read in batches."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    stmt = filters.statement()
    if stmt is None:
        return
    for row in db.session.scalars(stmt.order_by(AuditEvent.id.desc()).execution_options(yield_per=batch)):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_cell(v) for v in (
            row.id, row.occurred_at.isoformat(timespec="seconds"), row.event, _username(row.actor),
            _username(row.subject), row.details, row.client_address, row.user_agent)])
        yield buffer.getvalue()
