"""What must hold with several workers (issue 8), over real HTTP against gunicorn with 4 workers
on PostgreSQL and Redis: a code accepted once whichever worker gets it, settings and sessions
seen by every worker, rate limits shared, one winner of a terminal link, and recovery from a
PostgreSQL restart without restarting the app.

Concurrent requests are released together by a barrier; gunicorn's access log shows which
worker answered each one (tests/multiworker/conftest.py)."""
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from portal.auth.forms import FAILED_CODE
from tests.authenticator import totp_code
from tests.multiworker.conftest import LOGIN_LIMIT, PASSWORD, WORKERS, at_once, postgres_base_url, require

pytestmark = [
    pytest.mark.multiworker,
    pytest.mark.skipif(postgres_base_url() is None,
                       reason="needs TEST_DATABASE_URL=postgresql+psycopg://…: gunicorn's workers share one "
                              "PostgreSQL database"),
]

RACERS = 12  # pending sign-ins (or token requests) sending one code at once
DEVICES = 20  # tills linking one terminal at once
BATCH = 8  # simultaneous requests per round when every worker must answer at least one
MAX_ROUNDS = 6
MFA_FORM = {"status": "on", "mode": "optional", "issuer": "Back Office", "digits": "6", "algorithm": "SHA1",
            "period": "30", "drift": "1", "failed_limit": "5", "lock_minutes": "15", "timeout_minutes": "120",
            "warning_minutes": "5", "timeout_applies": "mandatory"}
NO_DETAILS = ("Traceback", "psycopg", "sqlalchemy", "OperationalError", "5432", "connection refused", "portal_test_")


# --- data, written in this process through the portal's services on the server's database ---

def save_settings(portal, changes: dict) -> None:
    from portal import settings

    with portal.app.app_context():
        settings.save(changes)


def employee(portal, username: str, status_level: int = 1, full_name: str | None = None) -> int:
    from portal.services.employees import EmployeeData, create_employee

    with portal.app.app_context():
        data = EmployeeData(username=username, full_name=full_name or username.title(), status_level=status_level)
        return create_employee(data, PASSWORD, actor=None).id


def enrolled_employee(portal, username: str) -> tuple[int, str]:
    """An employee with an authenticator app, activated with the current code; returns (id, secret)."""
    from portal.extensions import db
    from portal.mfa import service as mfa
    from portal.models import Employee

    employee_id = employee(portal, username)
    with portal.app.app_context():
        ann = db.session.get(Employee, employee_id)
        enrolment = mfa.prepare(ann)
        assert mfa.activate(ann, enrolment.credential.id, totp_code(enrolment.secret, at=datetime.now(UTC)))
    return employee_id, enrolment.secret


def next_code(secret: str) -> str:
    """The code of the step after the one the activation spent: within the drift of one step
    whenever the workers check it, and not yet used."""
    return totp_code(secret, at=datetime.now(UTC) + timedelta(seconds=30))


def count(portal, statement) -> int:
    from portal.extensions import db

    with portal.app.app_context():
        return db.session.scalar(statement)


# --- over HTTP ---

def spread(responses, workers: list[int]) -> str:
    return f"{len(set(workers))} of {WORKERS} workers answered {len(responses)} requests"


def until_every_worker_answered(portal, round_of_requests) -> list:
    """Send rounds of simultaneous requests until every worker has answered one of them;
    returns every response (the caller checks them all)."""
    workers = portal.worker_pids()
    responses, answered = [], set()
    for _ in range(MAX_ROUNDS):
        batch = round_of_requests()
        responses += batch
        answered |= set(portal.workers_of(batch))
        if workers <= answered:
            return responses
    pytest.fail(f"after {MAX_ROUNDS} rounds of {BATCH} requests only workers {sorted(answered)} "
                f"of {sorted(workers)} had answered")


def pending_browsers(portal, username: str, n: int) -> list:
    """n browsers that passed the password step: each at the one-time-password screen."""
    browsers = [portal.browser() for _ in range(n)]
    for response in at_once([lambda b=b: b.log_in(username) for b in browsers]):
        assert response.status_code == 302 and response.headers["Location"] == "/login/verify"
    return browsers


def test_one_code_sent_at_once_to_several_workers_signs_in_once(portal):
    from portal.models import UserSession

    save_settings(portal, {"mfa.status": True, "mfa.mode": "optional", "mfa.failed_limit": 50})
    racer_id, secret = enrolled_employee(portal, "racer")
    browsers = pending_browsers(portal, "racer", RACERS)
    tokens = at_once([lambda b=b: b.form_token("/login/verify") for b in browsers])
    code = next_code(secret)

    responses = at_once([lambda b=b, t=t: b.post("/login/verify", data={"csrf_token": t, "method": "totp",
                                                                        "code": code})
                         for b, t in zip(browsers, tokens, strict=True)])
    workers = portal.workers_of(responses)
    signed_in = [i for i, r in enumerate(responses) if r.status_code == 302]
    assert len(signed_in) == 1, [r.status_code for r in responses]
    assert responses[signed_in[0]].headers["Location"] == "/"
    refused = [r for i, r in enumerate(responses) if i != signed_in[0]]
    assert all(r.status_code == 200 and FAILED_CODE in r.text for r in refused)
    assert len(set(workers)) >= 2, spread(responses, workers)  # refused by other workers than the winner's
    assert count(portal, sa.select(sa.func.count()).select_from(UserSession)
                 .where(UserSession.employee_id == racer_id)) == 1
    assert browsers[signed_in[0]].get("/").status_code == 200
    assert browsers[(signed_in[0] + 1) % RACERS].get("/").status_code == 302  # still at the second step


def test_one_code_sent_at_once_to_several_workers_issues_one_api_token(portal):
    from portal.models import ApiToken

    save_settings(portal, {"mfa.status": True, "mfa.mode": "optional", "mfa.mobile_app": True,
                           "mfa.failed_limit": 50})
    app_user_id, secret = enrolled_employee(portal, "mobile")
    code = next_code(secret)
    form = {"username": "mobile", "password": PASSWORD, "service": "mobile_app", "otp": code}
    apps = [portal.browser() for _ in range(RACERS)]

    responses = at_once([lambda a=a: a.post("/api/token", data=form) for a in apps])
    workers = portal.workers_of(responses)
    issued = [r for r in responses if r.status_code == 200]
    assert len(issued) == 1, [r.status_code for r in responses]
    assert issued[0].json()["token"].startswith("bo_")
    refused = [r for r in responses if r.status_code != 200]
    assert {(r.status_code, r.json()["errorcode"]) for r in refused} == {(401, "invalidotp")}
    assert len(set(workers)) >= 2, spread(responses, workers)
    assert count(portal, sa.select(sa.func.count()).select_from(ApiToken)
                 .where(ApiToken.employee_id == app_user_id)) == 1
    status = apps[0].get("/api/mfa/status", headers={"Authorization": f"Bearer {issued[0].json()['token']}"})
    assert status.status_code == 200


def test_a_settings_change_saved_on_one_worker_applies_on_the_next_request_of_every_worker(portal):
    employee(portal, "boss", status_level=9)
    employee(portal, "clerk")

    def sign_ins():
        browsers = [portal.browser() for _ in range(BATCH)]
        return at_once([lambda b=b: b.log_in("clerk") for b in browsers])

    # MFA Off: every worker signs the clerk in with the password alone (and has read the setting).
    before = until_every_worker_answered(portal, sign_ins)
    assert {(r.status_code, r.headers.get("Location")) for r in before} == {(302, "/")}

    boss = portal.browser()
    assert boss.log_in("boss").headers["Location"] == "/"
    token = boss.form_token("/sysconfig/mfa")
    saved = boss.post("/sysconfig/mfa", data={"csrf_token": token, **MFA_FORM})
    assert saved.status_code == 302, saved.text[:500]

    # MFA On from the very next request, whichever worker takes it.
    after = until_every_worker_answered(portal, sign_ins)
    assert {(r.status_code, r.headers.get("Location")) for r in after} == {(302, "/login/verify")}


def test_a_rate_limit_hit_through_several_workers_holds_on_all(portal):
    employee(portal, "clerk")
    address = portal.address()  # one client address for every browser of this test
    browsers = [portal.browser(address) for _ in range(3 * LOGIN_LIMIT)]
    tokens = at_once([lambda b=b: b.form_token("/login") for b in browsers])

    responses = at_once([lambda b=b, t=t: b.post("/login", data={"csrf_token": t, "username": "clerk",
                                                                  "password": PASSWORD})
                         for b, t in zip(browsers, tokens, strict=True)])
    workers = portal.workers_of(responses)
    statuses = [r.status_code for r in responses]
    # Counted per worker, two or more workers would have let more than LOGIN_LIMIT through between them.
    assert sorted(statuses) == [302] * LOGIN_LIMIT + [429] * (2 * LOGIN_LIMIT), statuses
    assert len(set(workers)) >= 2, spread(responses, workers)
    assert all("Too many attempts" in r.text for r in responses if r.status_code == 429)
    assert any(key.startswith(b"LIMITS:") for key in portal.redis.scan_iter())  # in Redis, not in memory

    # The limit is the address's: another address still signs in.
    assert portal.browser().log_in("clerk").headers["Location"] == "/"
    assert portal.browser(address).log_in("clerk").status_code == 429


def test_twenty_devices_linking_one_terminal_at_once_give_one_winner(portal):
    from portal.extensions import db
    from portal.models import AuditEvent, Employee, PosTerminal
    from portal.security.device_tokens import DEVICE_TOKEN_HEADER, TERMINAL_HEADER, device_token_digest
    from portal.services.terminals import TerminalData, create_terminal

    admin_id = employee(portal, "boss", status_level=9)
    employee(portal, "cashier")
    with portal.app.app_context():
        terminal_id = create_terminal(TerminalData(name="Till 1", store="High Street", key_identifier="TILL-01",
                                                   min_status_level=1), db.session.get(Employee, admin_id)).id
    devices = [portal.browser() for _ in range(DEVICES)]
    tokens = at_once([lambda d=d: d.meta_token("/pos") for d in devices])
    body = {"username": "cashier", "password": PASSWORD, "terminal_key": "till-01"}

    responses = at_once([lambda d=d, t=t: d.post("/pos/api/link", json=body, headers={"X-CSRFToken": t})
                         for d, t in zip(devices, tokens, strict=True)])
    workers = portal.workers_of(responses)
    won = [i for i, r in enumerate(responses) if r.status_code == 200]
    assert len(won) == 1, [r.status_code for r in responses]
    lost = [r for i, r in enumerate(responses) if i != won[0]]
    assert {(r.status_code, r.json()["errorcode"]) for r in lost} == {(409, "alreadylinked")}
    assert len(set(workers)) >= 2, spread(responses, workers)

    device_token = responses[won[0]].json()["device_token"]
    with portal.app.app_context():
        terminal = db.session.get(PosTerminal, terminal_id)
        assert terminal.is_linked and terminal.device_token_hash == device_token_digest(device_token)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.event == "pos.terminal_linked")) == 1
    winner = devices[won[0]]
    status = winner.post("/pos/api/status", json={}, headers={
        "X-CSRFToken": tokens[won[0]], TERMINAL_HEADER: "TILL-01", DEVICE_TOKEN_HEADER: device_token})
    assert status.json()["linked"] is True


def test_a_session_started_on_one_worker_is_valid_on_all_and_ends_on_all(portal):
    employee(portal, "ann", full_name="Ann Example")
    browser = portal.browser()
    assert browser.log_in("ann").headers["Location"] == "/"

    pages = until_every_worker_answered(portal, lambda: at_once([lambda: browser.get("/")] * BATCH))
    assert all(r.status_code == 200 and "Welcome, Ann Example" in r.text for r in pages)

    # Log out on one worker: the same cookie, replayed, is refused by every worker.
    stolen = dict(browser.cookies)
    token = browser.form_token("/")
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 302
    replay = portal.browser(browser.address)

    def replayed():
        replay.cookies = dict(stolen)
        return at_once([lambda: replay.get("/")] * BATCH)

    refused = until_every_worker_answered(portal, replayed)
    assert {(r.status_code, r.headers.get("Location", "").split("?")[0]) for r in refused} == {(302, "/login")}


# --- PostgreSQL down and back (the machine's own cluster: pg_ctlcluster) ---

def _cluster() -> list[str]:
    """The pg_ctlcluster command for the machine's cluster ([] when there is none)."""
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    command = shutil.which("pg_ctlcluster")
    return [command, "--skip-systemctl-redirect", versions[-1], "main"] if versions and command else []


def _postgres(action: str) -> None:
    result = subprocess.run([*_cluster(), action], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"pg_ctlcluster {action}: {result.stderr}"


def _postgres_ready(url) -> bool:
    command = [shutil.which("pg_isready") or "/usr/bin/pg_isready", "-q", "-h", url.host, "-p", str(url.port or 5432)]
    return subprocess.run(command, timeout=10).returncode == 0


def _start_postgres_and_wait(url) -> None:
    if not _postgres_ready(url):
        _postgres("start")
    deadline = time.monotonic() + 60
    while not _postgres_ready(url):
        assert time.monotonic() < deadline, "PostgreSQL did not come back within 60 s"
        time.sleep(0.2)


def test_a_postgresql_restart_fails_requests_only_while_it_is_down(portal):
    url = sa.make_url(portal.database_url)
    require(url.host in ("127.0.0.1", "localhost") and bool(_cluster()) and os.geteuid() == 0,
            "stopping PostgreSQL needs the machine's own cluster, pg_ctlcluster and root")
    employee(portal, "ann", full_name="Ann Example")
    browser = portal.browser()
    assert browser.log_in("ann").headers["Location"] == "/"
    assert browser.get("/").status_code == 200
    workers = portal.worker_pids()

    try:
        _postgres("stop")
        assert not _postgres_ready(url)
        health_down = at_once([lambda: portal.browser().get("/healthz")] * BATCH)
        page_down = browser.get("/")
        api_down = browser.get("/api/mfa/status", headers={"Accept": "application/json"})
    finally:
        _start_postgres_and_wait(url)

    assert {(r.status_code, r.text.strip()) for r in health_down} == {(503, '{"status":"unavailable"}')}
    assert len(set(portal.workers_of(health_down))) >= 2
    assert page_down.status_code == 503 and "text/html" in page_down.headers["Content-Type"]
    assert "unavailable for a moment" in page_down.text
    assert api_down.status_code == 503 and api_down.json()["errorcode"] == "unavailable"
    for response in (page_down, api_down):
        assert response.headers.get("X-Request-ID")  # the portal's own answer, logged with its id
        assert not any(detail.lower() in response.text.lower() for detail in NO_DETAILS), response.text

    # Back without restarting gunicorn: the same workers, every one answering again.
    health_up = until_every_worker_answered(portal, lambda: at_once([lambda: portal.browser().get("/healthz")] * BATCH))
    assert {r.status_code for r in health_up} == {200}
    assert portal.worker_pids() == workers
    assert browser.get("/").status_code == 200  # the session from before: its row is in the database
    assert portal.browser().log_in("ann").headers["Location"] == "/"  # and writes work
