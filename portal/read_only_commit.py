"""A request that only read ends its transaction with COMMIT instead of ROLLBACK.

Both end a read-only transaction the same way for the database. The difference is psycopg's:
it prepares a statement on a connection once the statement has run a few times there, and forgets
every prepared statement at each ROLLBACK. Flask-SQLAlchemy ends each request with one
(`Session.close`), so without this the signed-in employee's query is parsed and planned by
PostgreSQL on every request (docs/performance.md: 270 µs of the backend's CPU against 130 µs).

"Only read" is decided conservatively: every statement that the session's connections ran in this
transaction was compiled by SQLAlchemy and began with SELECT, and the ORM session holds no pending
change (a commit would flush it). Anything else (a write, a SAVEPOINT, raw driver SQL, an
exception) leaves the transaction to the usual ROLLBACK, so nothing a request did not commit
itself is ever written. The rule this relies on: no SELECT in this code base has a side effect
that a COMMIT would keep (no pg_notify, set_config or writing functions called by a SELECT).
"""
import logging

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction

from portal.extensions import db

WROTE = "portal.wrote"  # Connection.info: this transaction ran something other than a compiled SELECT
CONNECTIONS = "portal.connections"  # Session.info: the connections its transactions began on

log = logging.getLogger(__name__)


def _note_statement(conn: Connection, _cursor, statement: str, _parameters, context, _executemany) -> None:
    if context is None or context.compiled is None or statement.lstrip()[:6].upper() != "SELECT":
        conn.info[WROTE] = True


def _note_begin(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    if transaction.nested or transaction.parent is not None:
        return  # a SAVEPOINT inside the request's transaction: its statement already counted as a write
    session.info.setdefault(CONNECTIONS, []).append(connection)
    connection.info[WROTE] = False


def _commit_if_read_only(exc: BaseException | None) -> None:
    session = db.session()
    connections = [c for c in session.info.get(CONNECTIONS, []) if not c.closed]
    if (exc is not None or not connections or not session.in_transaction() or not session.is_active
            or any(c.info.get(WROTE, True) for c in connections)
            or session.new or session.dirty or session.deleted):
        return
    expire_on_commit = session.expire_on_commit
    session.expire_on_commit = False  # the request is over: expiring what it loaded is wasted work
    try:
        session.commit()
    except SQLAlchemyError:  # the connection went away: Flask-SQLAlchemy's teardown cleans up
        log.warning("COMMIT of a read-only request failed", exc_info=True)
    finally:
        session.expire_on_commit = expire_on_commit


def register(app: Flask) -> None:
    """Runs before Flask-SQLAlchemy's own teardown, which then has nothing left to roll back.
    Only for PostgreSQL: SQLite has no prepared statements to keep."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        return
    with app.app_context():
        engines = list(db.engines.values())
    for engine in engines:  # every bind, so that a write through any of them is seen
        if not event.contains(engine, "before_cursor_execute", _note_statement):
            event.listen(engine, "before_cursor_execute", _note_statement)
    if not event.contains(db.session, "after_begin", _note_begin):
        event.listen(db.session, "after_begin", _note_begin)
    app.teardown_request(_commit_if_read_only)
