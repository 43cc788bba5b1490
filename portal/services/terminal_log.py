"""Reading a POS terminal's client log: filtered, newest first, keyset-paginated by id.

A page is the rows `before` or `after` an id, so page 20,000 costs what page 1 costs. Each
query reads one index of PosClientLog in id order and stops after a page:
(terminal_id, level, id) with a level, (terminal_id, cache_session_id, id) with a cache session
ID, else (terminal_id, id). Dates become id bounds through (terminal_id, received_at): the
server stamps received_at as it inserts the row, so one day's records are one range of ids.
"""
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement

from portal.extensions import db
from portal.models import PosClientLog, PosTerminal

# How long the terminal pages show the last "two cache session IDs" warning.
CACHE_WARNING_SHOWN_FOR = timedelta(hours=24)


@dataclass
class LogFilter:
    level: str | None = None
    cache_session_id: str | None = None
    date_from: date | None = None
    date_to: date | None = None


@dataclass
class LogPage:
    items: list[PosClientLog]
    newer_than: int | None  # id to pass as `after` for the newer page; None on the first page
    older_than: int | None  # id to pass as `before` for the older page; None on the last page


def _edge_id(terminal_id: int, condition: ColumnElement, newest: bool) -> int | None:
    """The id of the oldest (or newest) record that meets a condition on received_at."""
    order = (PosClientLog.received_at.desc(), PosClientLog.id.desc()) if newest else (
        PosClientLog.received_at.asc(), PosClientLog.id.asc())
    return db.session.scalar(db.select(PosClientLog.id).where(PosClientLog.terminal_id == terminal_id, condition)
                             .order_by(*order).limit(1))


def _conditions(terminal_id: int, filters: LogFilter) -> list[ColumnElement] | None:
    """Conditions on the rows, or None when no record falls within the dates."""
    conditions = [PosClientLog.terminal_id == terminal_id]
    if filters.level:
        conditions.append(PosClientLog.level == filters.level)
    if filters.cache_session_id:
        conditions.append(PosClientLog.cache_session_id == filters.cache_session_id)
    if filters.date_from:
        start = PosClientLog.received_at >= datetime.combine(filters.date_from, time.min)
        first = _edge_id(terminal_id, start, newest=False)
        if first is None:
            return None
        conditions += [PosClientLog.id >= first, start]
    if filters.date_to and filters.date_to < date.max:  # the last day has no day after it
        end = PosClientLog.received_at < datetime.combine(filters.date_to + timedelta(days=1), time.min)
        last = _edge_id(terminal_id, end, newest=True)
        if last is None:
            return None
        conditions += [PosClientLog.id <= last, end]
    return conditions


def log_page(terminal_id: int, filters: LogFilter, before: int | None = None, after: int | None = None,
             per_page: int = 50) -> LogPage:
    """One page of the terminal's matching records, newest first: the first page, the page
    older than the record `before`, or the page newer than the record `after`."""
    conditions = _conditions(terminal_id, filters)
    if conditions is None:
        return LogPage([], None, None)
    stmt = db.select(PosClientLog).where(*conditions)
    if after is not None:
        rows = list(db.session.scalars(stmt.where(PosClientLog.id > after)
                                       .order_by(PosClientLog.id.asc()).limit(per_page + 1)))
        items, has_newer, has_older = list(reversed(rows[:per_page])), len(rows) > per_page, True
    else:
        if before is not None:
            stmt = stmt.where(PosClientLog.id < before)
        rows = list(db.session.scalars(stmt.order_by(PosClientLog.id.desc()).limit(per_page + 1)))
        items, has_newer, has_older = rows[:per_page], before is not None, len(rows) > per_page
    return LogPage(items=items, newer_than=items[0].id if items and has_newer else None,
                   older_than=items[-1].id if items and has_older else None)


@dataclass(frozen=True)
class CacheWarning:
    ids: list[str]
    at: datetime


def recent_cache_warning(terminal: PosTerminal, now: datetime) -> CacheWarning | None:
    """The terminal's last "two cache session IDs within one hour" warning, if under 24 hours old."""
    warning = terminal.cache_warning
    if not warning:
        return None
    at = datetime.fromisoformat(warning["at"])
    return CacheWarning(list(warning["ids"]), at) if now - at < CACHE_WARNING_SHOWN_FOR else None


def purge_before(cutoff: datetime, batch_size: int = 10_000) -> int:
    """Delete client log records received before `cutoff`, a batch per transaction (so a large
    purge never holds one long lock); returns how many were deleted."""
    deleted = 0
    while True:
        ids = db.session.scalars(db.select(PosClientLog.id).where(PosClientLog.received_at < cutoff)
                                 .order_by(PosClientLog.id).limit(batch_size)).all()
        if not ids:
            return deleted
        db.session.execute(db.delete(PosClientLog).where(PosClientLog.id.in_(ids)))
        db.session.commit()
        deleted += len(ids)
