"""What an operator relies on: /healthz, one structured log line per request with a request id,
and sign-in still working when the rate-limit store (Redis) is down."""
import json
import logging

from sqlalchemy.exc import OperationalError

from tests.conftest import log_in


def test_healthz_answers_ok_while_the_database_answers(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_answers_503_without_details_when_the_database_is_down(app, client, db, monkeypatch):
    def broken(*_args, **_kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused to 10.0.0.5:5432"))

    monkeypatch.setattr(db.session, "execute", broken)
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json == {"status": "unavailable"}
    assert "10.0.0.5" not in response.get_data(as_text=True)


def test_one_log_line_per_request_with_the_request_id_and_no_secrets(client, db, make_employee, caplog):
    make_employee(username="ann")
    with caplog.at_level(logging.INFO, logger="portal.requests"):
        response = log_in(client, "ann")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "portal.requests"]
    login_line = next(line for line in lines if line["method"] == "POST")
    assert login_line["path"] == "/login" and login_line["status"] == 302
    assert login_line["request_id"] == response.headers["X-Request-ID"]
    assert set(login_line) == {"request_id", "method", "path", "status", "duration_ms", "employee_id", "address"}
    assert "correct horse battery" not in caplog.text and "csrf" not in caplog.text.lower()
    with caplog.at_level(logging.INFO, logger="portal.requests"):
        client.get("/account/", headers={"X-Request-ID": "lb-request-12345"})
    last = json.loads(caplog.records[-1].getMessage())
    assert last["request_id"] == "lb-request-12345" and last["employee_id"] is not None


def test_a_request_id_that_is_not_one_is_replaced(client, db):
    response = client.get("/login", headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert response.headers["X-Request-ID"] != "<script>alert(1)</script>"
    assert len(response.headers["X-Request-ID"]) == 32


# The limiter is one object per process, so this app runs in a process of its own.
REDIS_DOWN_SCRIPT = """
import sys
from config import TestingConfig
from flask_migrate import upgrade
from portal import create_app
from portal.services.employees import EmployeeData, create_employee

class RedisDown(TestingConfig):
    SQLALCHEMY_DATABASE_URI = sys.argv[1]
    RATELIMIT_STORAGE_URI = "redis://127.0.0.1:1/0"  # nothing listens there

app = create_app(RedisDown)
with app.app_context():
    upgrade()
    create_employee(EmployeeData(username="ann", full_name="Ann"), "correct horse battery", actor=None)
client = app.test_client()
page = client.get("/login").get_data(as_text=True)
token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
response = client.post("/login", data={"csrf_token": token, "username": "ann", "password": "correct horse battery"})
print(response.status_code, response.headers.get("Location"))
"""


def test_sign_in_works_while_the_rate_limit_store_is_down(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", REDIS_DOWN_SCRIPT, f"sqlite:///{tmp_path / 'portal.db'}"],
                            cwd=root, capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "PORTAL_INSTANCE_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["302", "/"]
    assert "falling back to in-memory storage" in result.stderr  # and says so in the log


def test_a_database_outage_gets_a_plain_503_page_and_json_with_the_request_id(client, db, make_employee,
                                                                              monkeypatch):
    make_employee(username="ann")
    assert log_in(client, "ann").status_code == 302

    def down(*_args, **_kwargs):
        raise OperationalError("SELECT", {}, Exception("could not connect to server at db.internal"))

    monkeypatch.setattr(db.session, "scalar", down)  # loading the signed-in employee fails
    monkeypatch.setattr(db.session, "get", down)
    page = client.get("/account/")
    api = client.get("/api/mfa/status")
    assert page.status_code == 503 and "unavailable for a moment" in page.get_data(as_text=True)
    assert api.status_code == 503 and api.json["errorcode"] == "unavailable"
    for response in (page, api):
        assert response.headers["X-Request-ID"] and response.headers["Cache-Control"] == "no-store"
        assert "db.internal" not in response.get_data(as_text=True)


def test_a_signed_in_page_view_resends_no_cookie_and_loads_the_session_with_the_employee(client, db,
                                                                                         make_employee):
    """The server-side session decides; the signed cookie is not re-signed on every answer, and
    the employee, their session row and the settings version come in one statement."""
    import sqlalchemy as sa

    make_employee(username="ann")
    assert log_in(client, "ann").status_code == 302
    client.get("/")  # the first page view may still set things in the session
    statements: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        statements.append(" ".join(statement.split()).lower())

    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        response = client.get("/")  # the start page lists no sessions of its own
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    session_reads = [s for s in statements if "from user_session" in s or "join user_session" in s]
    assert len(session_reads) == 1 and "from employee" in session_reads[0]
