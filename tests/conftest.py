"""Fixtures: one app and database per test run, emptied between tests.

The suite runs on SQLite (a temporary file) by default and on PostgreSQL when
TEST_DATABASE_URL is set; then a fresh database is created for this run and
dropped at the end, so runs never see each other's rows.
"""
import html
import os
import re
import threading
import uuid

import pytest
import sqlalchemy as sa
from flask import has_app_context
from flask.testing import FlaskClient
from flask_migrate import upgrade
from werkzeug.serving import make_server

from portal import clock, create_app
from portal.extensions import db as _db
from portal.extensions import limiter

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class RequestContextClient(FlaskClient):
    """Each request gets its own application context, `g` and database session, as in
    production, instead of reusing the context the test itself holds open.

    The test's own session ends its transaction first (its objects reload on next use), so
    it neither holds a SQLite lock against the request nor reads stale rows afterwards.
    """

    def open(self, *args, **kwargs):
        if has_app_context():
            _db.session.rollback()
        with self.application.app_context():
            return super().open(*args, **kwargs)


def _fresh_postgres_database(base_url: str):
    """Create a uniquely named database next to the one in base_url; return its URL and a dropper."""
    url = sa.make_url(base_url)
    name = f"portal_test_{uuid.uuid4().hex[:12]}"
    # No pool: a PostgreSQL restart (tests/multiworker) must not leave it a dead connection.
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    base = os.environ.get("TEST_DATABASE_URL")
    if base and base.startswith("postgresql"):
        url, drop = _fresh_postgres_database(base)
        yield url
        drop()
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'portal-test.db'}"


@pytest.fixture(scope="session")
def app(database_url):
    from config import TestingConfig

    class SuiteConfig(TestingConfig):
        SQLALCHEMY_DATABASE_URI = database_url

    app = create_app(SuiteConfig)
    app.test_client_class = RequestContextClient
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        _db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_state(app):
    """Each test starts with empty tables, fresh rate-limit counters and the real clock."""
    ctx = app.app_context()
    ctx.push()
    yield
    _db.session.rollback()
    _db.session.remove()
    with _db.engine.begin() as conn:
        for table in reversed(_db.metadata.sorted_tables):
            conn.execute(table.delete())
    limiter.reset()
    clock.unfreeze()
    ctx.pop()


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def frozen_clock():
    """Freeze time now; tests move it with `frozen_clock.advance(timedelta(...))`."""
    clock.freeze()
    yield clock


def csrf_token(client, url: str) -> str:
    """Read the CSRF token from the form on `url`, as a browser would."""
    response = client.get(url)
    match = CSRF_RE.search(response.get_data(as_text=True))
    assert match, f"no CSRF token in the page at {url} (status {response.status_code})"
    return match.group(1)


def post_form(client, url: str, data: dict, form_url: str | None = None, **kwargs):
    """POST a form with the CSRF token taken from the page that shows it."""
    token = csrf_token(client, form_url or url)
    return client.post(url, data={"csrf_token": token, **data}, **kwargs)


def field_errors(response, field_id: str) -> str:
    """The error text shown right beside one field ('' when the field has none)."""
    page = response.get_data(as_text=True)
    match = re.search(rf'id="{field_id}-errors">((?:<div>.*?</div>)*)</div>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).strip() if match else ""


def log_in(client, username: str, password: str = "correct horse battery", **kwargs):
    return post_form(client, "/login", {"username": username, "password": password}, **kwargs)


@pytest.fixture
def make_employee(db):
    """Factory fixture: make_employee(username=..., status_level=..., password=...)."""
    from tests.factories import EmployeeFactory

    return EmployeeFactory


@pytest.fixture
def admin(make_employee):
    return make_employee(username="admin", full_name="Ada Admin", status_level=9)


@pytest.fixture
def admin_client(client, admin):
    response = log_in(client, "admin")
    assert response.status_code == 302
    return client


@pytest.fixture
def smtp_server(app):
    """A real SMTP server on a free localhost port (aiosmtpd); the app sends to it for this test.

    Yields the list of received `email.message.EmailMessage`s.
    """
    import socket
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(message_from_bytes(envelope.content, policy=policy.default))
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    saved = {k: app.config[k] for k in ("MAIL_SERVER", "MAIL_PORT")}
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    yield received
    app.config.update(saved)
    controller.stop()


@pytest.fixture(scope="module")
def live_server(app):
    """Serve the suite's app on a free localhost port in a thread (browser journeys and the
    HTTP clients that play external systems); yields its base URL. It shares this process's
    database, clock and rate-limit storage with the test."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
