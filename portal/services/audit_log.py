"""Reading the audit log: filtered, newest first, keyset-paginated.

Pages go by position (occurred_at, id) `before`/`after` a row, so they stay as fast
on page 20,000 as on page 1, where OFFSET pagination on a million rows would not.
Every query reads one index in list order and stops after a page (see the indexes
on AuditEvent); bench/bench_lists.py measures it at a million rows.
"""
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Select, bindparam, or_, tuple_, union

from portal.extensions import db
from portal.models import AuditEvent, Employee
from portal.security.signin import find_employee

NEWEST_FIRST = (AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
OLDEST_FIRST = (AuditEvent.occurred_at.asc(), AuditEvent.id.asc())
POSITION = tuple_(AuditEvent.occurred_at, AuditEvent.id)


@dataclass
class AuditFilter:
    username: str | None = None
    event: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def resolve(self) -> tuple[list[ColumnElement], int | None] | None:
        """(conditions on the row, id of the named employee or None), or None when the
        named employee does not exist: then nothing matches, rather than everything."""
        employee_id = None
        if self.username:
            employee = find_employee(self.username)
            if employee is None:
                return None
            employee_id = employee.id
        conditions = []
        if self.event:
            conditions.append(AuditEvent.event == self.event)
        if self.date_from:
            conditions.append(AuditEvent.occurred_at >= datetime.combine(self.date_from, time.min))
        if self.date_to and self.date_to < date.max:  # the last day has no day after it
            conditions.append(AuditEvent.occurred_at < datetime.combine(self.date_to + timedelta(days=1), time.min))
        return conditions, employee_id

    def statement(self) -> Select | None:
        """Every matching event (unordered), or None when the named employee does not exist."""
        resolved = self.resolve()
        if resolved is None:
            return None
        conditions, employee_id = resolved
        if employee_id is not None:
            conditions.append(or_(AuditEvent.actor_id == employee_id, AuditEvent.subject_id == employee_id))
        return db.select(AuditEvent).where(*conditions)


@dataclass
class AuditPage:
    items: list[AuditEvent]
    newer_than: int | None  # id to pass as `after` for the newer page, None on the first page
    older_than: int | None  # id to pass as `before` for the older page, None on the last page


def _position_of(event_id: int | None) -> ColumnElement | None:
    """The (occurred_at, id) of a page marker, or None when there is no such row."""
    if event_id is None:
        return None
    occurred_at = db.session.scalar(db.select(AuditEvent.occurred_at).where(AuditEvent.id == event_id))
    if occurred_at is None:
        return None
    return tuple_(bindparam("marker_at", occurred_at, type_=AuditEvent.occurred_at.type),
                  bindparam("marker_id", event_id, type_=AuditEvent.id.type))


def _first_rows(conditions: list, employee_id: int | None, order, limit: int) -> list[AuditEvent]:
    if employee_id is None:
        stmt = db.select(AuditEvent).where(*conditions)
    else:
        # The employee acted or was acted on. An OR would read and sort all of a busy
        # employee's events; instead each side is read in order from its own index and
        # cut at `limit`, and the page is the first `limit` of the two together.
        sides = [db.select(AuditEvent.id).where(column == employee_id, *conditions)
                 .order_by(*order).limit(limit).subquery()
                 for column in (AuditEvent.actor_id, AuditEvent.subject_id)]
        stmt = db.select(AuditEvent).where(AuditEvent.id.in_(union(*(db.select(side.c.id) for side in sides))))
    return list(db.session.scalars(stmt.order_by(*order).limit(limit)))


def audit_page(filters: AuditFilter, before: int | None = None, after: int | None = None,
               per_page: int = 50) -> AuditPage:
    """One page of matching events, newest first: the first page, the page older than the
    event `before`, or the page newer than the event `after`. Unknown markers are ignored."""
    resolved = filters.resolve()
    if resolved is None:
        return AuditPage([], None, None)
    conditions, employee_id = resolved
    newer_than_marker = _position_of(after)
    if newer_than_marker is not None:
        rows = _first_rows([*conditions, POSITION > newer_than_marker], employee_id, OLDEST_FIRST, per_page + 1)
        has_newer = len(rows) > per_page
        items = list(reversed(rows[:per_page]))
        has_older = True
    else:
        older_than_marker = _position_of(before)
        if older_than_marker is not None:
            conditions = [*conditions, POSITION < older_than_marker]
        rows = _first_rows(conditions, employee_id, NEWEST_FIRST, per_page + 1)
        items = rows[:per_page]
        has_older = len(rows) > per_page
        has_newer = older_than_marker is not None
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


def _json(details: dict | None) -> str:
    """Details as JSON, as the page shows them, so that a reader's tools can parse them."""
    return json.dumps(details, ensure_ascii=False, sort_keys=True) if details else ""


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
    for row in db.session.scalars(stmt.order_by(*NEWEST_FIRST).execution_options(yield_per=batch)):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_cell(v) for v in (
            row.id, row.occurred_at.isoformat(timespec="seconds"), row.event, _username(row.actor),
            _username(row.subject), _json(row.details), row.client_address, row.user_agent)])
        yield buffer.getvalue()
