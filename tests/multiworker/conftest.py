"""gunicorn with several workers on PostgreSQL and Redis, driven over real HTTP (issue 8).

One gunicorn per module, started as `make serve-prod` starts it (production config, no
preload), with WEB_CONCURRENCY=4 on a fresh PostgreSQL database that the deploy step
(`flask --app wsgi db upgrade`) migrated, and a Redis database of its own for the rate
limits. Tests write their data in this process through the portal's own services, with an
app of their own on the same database: no mocks.

Which worker answered a request: gunicorn's access log names the worker's pid (`%(p)s`)
beside the X-Request-ID the client sent; nothing is added to the app for it.

Every simulated browser or device has its own client address, sent as X-Forwarded-For
through one trusted proxy (TRUSTED_PROXY_COUNT=1, as behind the reverse proxy of
docs/deployment.md), so a per-address limit counts only what a test means it to count.
"""
import itertools
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet

from tests.conftest import CSRF_RE, _fresh_postgres_database

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WORKERS = 4
REDIS = ("127.0.0.1", 6379)
LOGIN_LIMIT = 5  # RATELIMIT_LOGIN for this server: small, so the limit test stays short
PASSWORD = "correct horse battery"
META_CSRF_RE = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
ACCESS_FORMAT = "%({x-request-id}i)s %(p)s %(s)s"  # request id, <worker pid>, status
ACCESS_LINE = re.compile(r"^(\S+) <(\d+)> (\d+)$")
# Cheap hashing in the workers and in the test's own app alike (no rehash on first login).
ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8192, "ARGON2_PARALLELISM": 1}


def postgres_base_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL", "")
    return url if url.startswith("postgresql") else None


def require(condition: bool, message: str) -> None:
    """Skip locally, fail in CI (the services are installed there)."""
    if not condition:
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)


def _redis_answers() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _children(pid: int) -> set[int]:
    """The processes whose parent is `pid` (gunicorn's workers), read from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.add(int(entry.name))
    return found


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released together by a barrier; results in the calls' order."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


class Browser:
    """One browser (or device): its own cookies and its own client address.

    Production cookies are `__Host-session` with Secure, which `requests` never sends back
    over plain http, so the cookies are carried here by hand, as a browser behind TLS would.
    Every request carries a new X-Request-ID, kept on the response as `request_id`.
    """

    def __init__(self, portal: "Portal", address: str):
        self.portal = portal
        self.address = address
        self.cookies: dict[str, str] = {}
        self._lock = threading.Lock()

    def request(self, method: str, path: str, headers: dict | None = None, **kwargs) -> requests.Response:
        request_id = uuid.uuid4().hex
        sent = {"X-Request-ID": request_id, "X-Forwarded-For": self.address, **(headers or {})}
        with self._lock:
            if self.cookies:
                sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        with requests.Session() as http:
            http.trust_env = False  # no proxy from the environment for 127.0.0.1
            response = http.request(method, self.portal.base_url + path, headers=sent, allow_redirects=False,
                                    timeout=30, **kwargs)
        response.request_id = request_id
        self._keep_cookies(response)
        return response

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def _keep_cookies(self, response: requests.Response) -> None:
        with self._lock:
            for header in response.raw.headers.getlist("Set-Cookie"):
                pair, _, attributes = header.partition(";")
                name, _, value = pair.strip().partition("=")
                if not value or "max-age=0" in attributes.lower().replace(" ", ""):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = value

    def form_token(self, path: str) -> str:
        """The CSRF token of the form on `path`, as a browser reads it."""
        response = self.get(path)
        match = CSRF_RE.search(response.text)
        assert match, f"no CSRF token in the page at {path} (status {response.status_code})"
        return match.group(1)

    def meta_token(self, path: str) -> str:
        """The CSRF token in the page's <meta name="csrf-token"> (what the page's scripts send)."""
        response = self.get(path)
        match = META_CSRF_RE.search(response.text)
        assert match, f"no csrf-token meta in the page at {path} (status {response.status_code})"
        return match.group(1)

    def log_in(self, username: str, password: str = PASSWORD) -> requests.Response:
        token = self.form_token("/login")
        return self.post("/login", data={"csrf_token": token, "username": username, "password": password})


@dataclass
class Portal:
    """The running gunicorn and what the tests need around it."""

    base_url: str
    app: Any  # the test's own Flask app on the same database
    master: subprocess.Popen
    access_log: Path
    server_log: Path
    redis: Any
    database_url: str
    _addresses: Any = field(default_factory=lambda: itertools.count(1))

    def address(self) -> str:
        n = next(self._addresses)
        return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"

    def browser(self, address: str | None = None) -> Browser:
        return Browser(self, address or self.address())

    def worker_pids(self) -> set[int]:
        return _children(self.master.pid)

    def workers_of(self, responses: list[requests.Response], timeout: float = 10) -> list[int]:
        """The pid of the worker that answered each response (gunicorn writes its access
        line just after sending the response, so wait for it)."""
        wanted = [r.request_id for r in responses]
        deadline = time.monotonic() + timeout
        while True:
            seen = {}
            for line in self.access_log.read_text().splitlines():
                match = ACCESS_LINE.match(line)
                if match:
                    seen[match.group(1)] = int(match.group(2))
            if all(w in seen for w in wanted):
                return [seen[w] for w in wanted]
            if time.monotonic() > deadline:
                missing = [w for w in wanted if w not in seen]
                raise AssertionError(f"{len(missing)} requests are missing from gunicorn's access log")
            time.sleep(0.05)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.server_log.read_text(errors="replace").splitlines()[-lines:])

    def forget_rate_limits(self) -> None:
        keys = list(self.redis.scan_iter("LIMITS:*"))
        if keys:
            self.redis.delete(*keys)


def _pick_redis_database(redis_module):
    """An empty Redis database (1-15) for this run's counters, so nothing else shares them."""
    empty = []
    for n in range(1, 16):
        with redis_module.Redis(*REDIS, db=n) as probe:
            if probe.dbsize() == 0:
                empty.append(n)
    assert empty, "every Redis database 1-15 holds keys: nothing free for the multi-worker tests"
    return secrets.choice(empty)


def _wait_until_every_worker_answers(portal: Portal, timeout: float = 60) -> None:
    """/healthz answers, from each of the WORKERS workers (each has loaded the app)."""
    deadline = time.monotonic() + timeout
    answered: set[int] = set()
    while time.monotonic() < deadline:
        if portal.master.poll() is not None:
            raise AssertionError(f"gunicorn exited ({portal.master.returncode}):\n{portal.log_tail()}")
        workers = portal.worker_pids()
        try:
            responses = at_once([lambda: portal.browser("127.0.0.1").get("/healthz")] * (2 * WORKERS))
        except requests.ConnectionError:
            time.sleep(0.2)
            continue
        answered |= {pid for pid, r in zip(portal.workers_of(responses), responses, strict=True)
                     if r.status_code == 200}
        if len(workers) == WORKERS and workers <= answered:
            return
        time.sleep(0.1)
    raise AssertionError(f"gunicorn's {WORKERS} workers did not all answer /healthz in {timeout} s "
                         f"(answered: {sorted(answered)}):\n{portal.log_tail()}")


def _stop(master: subprocess.Popen) -> None:
    """End gunicorn and its workers (their own process group)."""
    if master.poll() is None:
        os.killpg(master.pid, signal.SIGTERM)
        try:
            master.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(master.pid, signal.SIGKILL)
            master.wait(timeout=10)
    try:  # workers left behind by a master that died first
        os.killpg(master.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _drop(drop: Callable[[], None]) -> None:
    """Drop the database; once more if the first try met a connection that a PostgreSQL
    restart (the outage test) broke: the failure discards it from the pool."""
    try:
        drop()
    except sa.exc.OperationalError:
        drop()


@pytest.fixture(autouse=True)
def _clean_state():
    """These tests use the server's database, not the suite's app (tests/conftest.py)."""
    yield


@pytest.fixture(scope="module")
def gunicorn_portal(tmp_path_factory):
    import redis

    from config import TestingConfig
    from portal import create_app
    from portal.extensions import db

    base = postgres_base_url()
    if base is None:
        pytest.skip("needs TEST_DATABASE_URL=postgresql+psycopg://…: the workers share one PostgreSQL database")
    require(_redis_answers(), f"Redis is not answering on {REDIS[0]}:{REDIS[1]} (the workers share rate limits there)")
    redis_db = _pick_redis_database(redis)
    tmp = tmp_path_factory.mktemp("multiworker")
    database_url, drop = _fresh_postgres_database(base)
    secret_key, fernet_key = secrets.token_hex(32), Fernet.generate_key().decode()
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GUNICORN_", "MAIL_"))}
    env.update({
        "PORTAL_ENV": "production", "SECRET_KEY": secret_key, "MFA_ENCRYPTION_KEYS": fernet_key,
        "DATABASE_URL": database_url, "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:6379/{redis_db}",
        "WEB_CONCURRENCY": str(WORKERS), "BIND": f"127.0.0.1:{port}", "TRUSTED_PROXY_COUNT": "1",
        "RATELIMIT_LOGIN": f"{LOGIN_LIMIT} per minute", "DB_POOL_SIZE": "2", "DB_MAX_OVERFLOW": "2",
        "PORTAL_INSTANCE_DIR": str(tmp), **{key: str(value) for key, value in ARGON2.items()},
    })
    master = server = None
    store = redis.Redis(*REDIS, db=redis_db)
    try:
        upgrade = subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=120)
        assert upgrade.returncode == 0, f"flask db upgrade failed:\n{upgrade.stderr}"

        server_log, access_log = tmp / "gunicorn.log", tmp / "access.log"
        access_log.touch()
        with server_log.open("wb") as log:
            master = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--access-logfile", str(access_log),
                 "--access-logformat", ACCESS_FORMAT, "wsgi:app"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

        class MultiworkerConfig(TestingConfig):
            SQLALCHEMY_DATABASE_URI = database_url
            SECRET_KEY = secret_key
            MFA_ENCRYPTION_KEYS = fernet_key
            ARGON2_TIME_COST = ARGON2["ARGON2_TIME_COST"]
            ARGON2_MEMORY_COST = ARGON2["ARGON2_MEMORY_COST"]
            ARGON2_PARALLELISM = ARGON2["ARGON2_PARALLELISM"]

        server = Portal(base_url=f"http://127.0.0.1:{port}", app=create_app(MultiworkerConfig), master=master,
                        access_log=access_log, server_log=server_log, redis=store, database_url=database_url)
        _wait_until_every_worker_answers(server)
        yield server
    finally:
        if master is not None:
            _stop(master)
        if server is not None:
            with server.app.app_context():
                db.engine.dispose()
        _drop(drop)
        keys = list(store.scan_iter("LIMITS:*"))
        if keys:
            store.delete(*keys)
        store.close()


@pytest.fixture
def portal(gunicorn_portal):
    """The running portal, with empty tables, no rate-limit counters and the real clock
    (the workers are other processes: they read the real time)."""
    from portal import clock
    from portal.extensions import db

    clock.unfreeze()
    with gunicorn_portal.app.app_context(), db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())
    gunicorn_portal.forget_rate_limits()
    assert gunicorn_portal.master.poll() is None, f"gunicorn has exited:\n{gunicorn_portal.log_tail()}"
    return gunicorn_portal
