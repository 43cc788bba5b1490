"""A request that only read ends its transaction with COMMIT instead of ROLLBACK.

Both end a read-only transaction the same way for the database. The difference is psycopg's:
it prepares a statement on a connection once the statement has run a few times there, and forgets
every prepared statement at each ROLLBACK. Flask-SQLAlchemy ends each request with one
(`Session.close`), so without this the signed-in employee's query is parsed and planned by
PostgreSQL on every request (docs/performance.md: 270 µs of the backend's CPU against 130 µs).

"Only read" is decided conservatively: every statement the connection ran in this transaction
began with SELECT, and the ORM session holds no pending change (a commit would flush it). Anything
else, or an exception, leaves the transaction to the usual ROLLBACK, so nothing a request did not
commit itself is ever written.
"""
from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, SessionTransaction

from portal.extensions import db

WROTE = "portal.wrote"  # Connection.info: a statement other than SELECT ran in this transaction
CONNECTION = "portal.connection"  # Session.info: the connection of the session's transaction


def _note_statement(conn: Connection, _cursor, statement: str, *_args) -> None:
    if statement.lstrip()[:6].upper() != "SELECT":
        conn.info[WROTE] = True


def _note_begin(session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    session.info[CONNECTION] = connection
    connection.info[WROTE] = False


def _commit_if_read_only(exc: BaseException | None) -> None:
    session = db.session()
    connection = session.info.get(CONNECTION)
    if (exc is not None or connection is None or connection.closed or not session.in_transaction()
            or connection.info.get(WROTE, True) or session.new or session.dirty or session.deleted):
        return
    session.commit()


def register(app: Flask) -> None:
    """Runs before Flask-SQLAlchemy's own teardown, which then has nothing left to roll back.
    Only for PostgreSQL: SQLite has no prepared statements to keep."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        return
    with app.app_context():
        engine = db.engine
    if not event.contains(engine, "before_cursor_execute", _note_statement):
        event.listen(engine, "before_cursor_execute", _note_statement)
    if not event.contains(db.session, "after_begin", _note_begin):
        event.listen(db.session, "after_begin", _note_begin)
    app.teardown_request(_commit_if_read_only)
