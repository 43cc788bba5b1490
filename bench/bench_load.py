"""Benchmark: the portal under load with several gunicorn workers on PostgreSQL and Redis (issue 8).

`make bench-load` (or .venv/bin/python bench/bench_load.py). Needs wrk (`apt-get install -y wrk`),
PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and Redis on 127.0.0.1:6379.

Set-up, all of it removed at the end (also after a failure, Ctrl-C or SIGTERM):
- a scratch PostgreSQL database `bench_load_<random>`, migrated by `flask --app wsgi db upgrade`
  as a deployment does; an empty Redis database (the first empty one of 12, 11, ... 1), for the
  rate-limit counters, flushed at the end;
- in-process, through the portal's services (create_employee, mfa.prepare/activate,
  api_tokens.issue_token): Sys Config MFA Status On (Optional), "Failed codes before lock" 100
  (the highest allowed), the inactivity timeout applying always; one employee, "bench.viewer",
  signed up for the authenticator app; `--verifiers` employees signed up likewise, each with a
  bearer token for the mobile app. The set-up app hashes passwords with cheap Argon2 parameters
  (the gunicorn app rehashes the viewer's once, at its sign-in) and issues the tokens in-process with
  the service behind POST /api/token: over HTTP each would cost a production Argon2 verify and
  rehash, and nothing measured depends on how a token was issued;
- the portal served by the real `wsgi:app` with gunicorn.conf.py and PORTAL_ENV=production
  (SECRET_KEY, MFA_ENCRYPTION_KEYS, DATABASE_URL, RATELIMIT_STORAGE_URI=redis://..., BIND on a free
  port, WEB_CONCURRENCY = each of --workers) and TRUSTED_PROXY_COUNT=1, as behind the reverse proxy
  of docs/deployment.md: every request carries X-Forwarded-For and X-Forwarded-Proto: https.
  Nothing is switched off: rate limiting, CSRF, session guard, security headers and the request log
  (one JSON line per request, to a file) all run. The viewer signs in once through the real login
  form and second step (CSRF tokens read from the pages, a code from the authenticator secret) and
  opens the start page once, as a browser does after signing in; the production cookie
  `__Host-session` is Secure, so the bench takes its value from Set-Cookie and sends it itself, as
  wrk does (-H "Cookie: __Host-session=..."); the bench checks that a page view with it sets no new
  cookie (the steady state of a browser).

Measured with wrk from a second process on loopback, for each worker count, at --connections
concurrent connections (-c 50 -t 2 by default), --duration seconds after a --warmup run, with
--latency for p50/p99:
  (a) page view: GET / signed in (the start page: Flask-Login loads the employee, the session
      guard checks the server-side session record and writes last activity at most once a minute,
      so this is reads);
  (a1) the same with one connection (-c 1): the time a request takes when none waits in a queue,
      for reading the latencies at 50 connections (Little's law: a closed loop of 50 connections
      keeps 50 requests in the system, so their mean latency is 50 / requests per second);
  (b) code check (refused, counted): POST /api/mfa/verify with a bearer token and a wrong
      six-digit code for an employee signed up for the authenticator app: the token is looked up,
      the per-address limit (30/min) is counted in Redis, the code is compared with the drift
      window's codes, and the failure is counted on the employee's lockout and audited (UPDATE …
      RETURNING, INSERT, COMMIT), then 401 "invalidotp". A code can be accepted only once per time step, so
      a right code would be a replay from the second request on and refused just the same; a wrong
      code is what a load of code checks mostly is for the server. wrk's Lua script goes round the
      verifiers' tokens, and gives each request its own client address (X-Forwarded-For over
      10.x.y.z), so the per-address limit counts every request but never refuses one (each
      address sends far fewer than 30 a minute). The verifiers' failure counters are reset before
      each run; 100 wrong codes lock an employee, so --verifiers x 100 must exceed the requests
      sent: the bench counts locks afterwards and says when the figure includes locked refusals;
  (c) reference page view: GET / of bench/reference_app.py (Flask-Login only, the same
      employee loaded from the same database, a page of the same size), served by gunicorn with the
      same gunicorn.conf.py and worker count, signed in through its own POST /login.
Both apps run side by side (the idle one costs nothing) and (a) and (c) are measured in --rounds
alternating rounds (3 by default): the table shows the median round of each and the median of
the rounds' portal/reference ratios, so that a slow minute of a shared machine weighs on both.
The portal's request log is read back after each run and its statuses counted, so the table
says what the requests got (all 200, all 401), not only how fast. Each run is followed by a wait
until the server has served what wrk left queued. While wrk measures, the bench also notes how much
of the machine's CPU time other processes took (everything but gunicorn's process group, wrk, the
scratch database's PostgreSQL backends, Redis and the bench): a shared machine's noise shows there.

It prints a table (workers, case, requests/s, p50, p99, portal/reference ratio for page views,
other CPU) and the CPU time per request by part of the run (workers, PostgreSQL, Redis, wrk),
with the targets beside it (page views >= 0.7 x reference; p99 < 50 ms at 50 concurrent
clients) and never asserts them. With --profile, py-spy (not a requirement: install it into the
venv for the analysis) samples the workers during each measured run (the last round's page views)
and the bench prints where their time goes. docs/performance.md holds a run and how to read it.

    .venv/bin/python bench/bench_load.py                         # 2 and 4 workers, 15 s per case
    .venv/bin/python bench/bench_load.py --workers 2 --duration 8 --profile
    make bench-load BENCH_LOAD_ARGS="--workers 4 --duration 30"
"""
import argparse
import base64
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import psycopg
import pyotp
import redis
import sqlalchemy as sa
from _common import (
    PASSWORD,
    PG_ADMIN,
    ROOT,
    bench_config,
    create_postgres_database,
    csrf_token,
    drop_postgres_database,
    postgres_url,
)

from portal import create_app, settings
from portal.extensions import db
from portal.mfa import service as mfa
from portal.models import Employee
from portal.security.session_policy import ALWAYS
from portal.services import api_tokens
from portal.services.employees import EmployeeData, create_employee

BIN = Path(sys.executable).parent
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DBS = range(12, 0, -1)  # the first empty one is the bench's
VIEWER = "bench.viewer"
PROXY_HEADERS = {"X-Forwarded-For": "192.0.2.10", "X-Forwarded-Proto": "https"}  # as the reverse proxy sends
PORTAL_COOKIE = "__Host-session"
REFERENCE_COOKIE = "session"
WRONG_CODE = "000000"  # right by chance with odds of about 3 in a million per request: then it is simply accepted
FAILED_LIMIT = 100  # Sys Config's highest "Failed codes before lock"
TARGET_RATIO = 0.7
TARGET_P99_MS = 50.0
TARGET_CLIENTS = 50  # the p99 target holds at this many concurrent clients
STARTUP_SECONDS = 60
WRK = shutil.which("wrk")
BUSY_OTHER_CPU = 5.0  # % of the machine taken by other processes above which a row is flagged

VERIFY_LUA = """\
-- bench_load.py: POST /api/mfa/verify round the bearer tokens, each request from its own address.
local tokens = {%(tokens)s}
local n = 0
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function request()
  n = n + 1
  local token = tokens[((n + (tid or 0) * 37) %% #tokens) + 1]
  local address = string.format("10.%%d.%%d.%%d", tid or 0, math.floor(n / 250) %% 250, n %% 250 + 1)
  return wrk.format("POST", "/api/mfa/verify", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Forwarded-For"] = address,
    ["X-Forwarded-Proto"] = "https",
  }, "code=%(code)s")
end
"""


# --- the scratch database and Redis -----------------------------------------------------------------

def create_database() -> str:
    return create_postgres_database("bench_load")


def retrying(action, what: str, seconds: float = 60):
    """Clean-up must survive PostgreSQL or Redis restarting (the multi-worker tests restart PostgreSQL)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return action()
        except (psycopg.OperationalError, redis.ConnectionError) as error:
            if time.monotonic() > deadline:
                print(f"could not {what}: {error}", file=sys.stderr)
                return None
            time.sleep(1)


def drop_database(name: str) -> bool:
    def drop() -> bool:
        drop_postgres_database(name)
        return True

    return bool(retrying(drop, f"drop the database {name} (drop it by hand)"))


def empty_redis_db() -> int:
    for number in REDIS_DBS:
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number)
        try:
            if client.dbsize() == 0:
                return number
        except redis.ConnectionError as error:
            raise SystemExit(f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT}: {error}") from None
        finally:
            client.close()
    raise SystemExit(f"no empty Redis database among {list(REDIS_DBS)}")


def flush_redis_db(number: int) -> bool:
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number)
    try:
        return bool(retrying(client.flushdb, f"flush Redis database {number} (flush it by hand)"))
    finally:
        client.close()


# --- set-up, in-process ---------------------------------------------------------------------------------

@dataclass
class Fixture:
    viewer_secret: str
    viewer_step: int  # the time step the viewer's enrolment used; a sign-in needs a later one
    tokens: list[str]
    verifier_ids: list[int]


def sign_up_for_app(employee: Employee) -> tuple[str, int]:
    """Signup for MFA with the authenticator app, as the popup does; returns the secret and the step used."""
    enrolment = mfa.prepare(employee, None, "127.0.0.1", "totp", "bench")
    step = int(time.time()) // enrolment.credential.period
    code = pyotp.TOTP(enrolment.secret).generate_otp(step)
    if mfa.activate(employee, enrolment.credential.id, code, "127.0.0.1", "bench") is None:
        raise SystemExit(f"could not activate {employee.username}'s authenticator app")
    return enrolment.secret, step


def populate(app, verifiers: int) -> Fixture:
    with app.app_context():
        settings.save({"mfa.status": True, "mfa.failed_limit": FAILED_LIMIT,
                       "session.timeout_applies": ALWAYS}, audit=False)
        viewer = create_employee(EmployeeData(username=VIEWER, full_name="Bench Viewer", status_level=1),
                                 PASSWORD, actor=None)
        secret, step = sign_up_for_app(viewer)
        tokens, ids = [], []
        for i in range(verifiers):
            employee = create_employee(EmployeeData(username=f"bench.verifier.{i:04d}",
                                                    full_name=f"Bench Verifier {i}", status_level=1),
                                       PASSWORD, actor=None)
            sign_up_for_app(employee)
            issued = api_tokens.issue_token(employee.username, PASSWORD, api_tokens.MOBILE_APP, None, "127.0.0.1")
            tokens.append(issued.token)
            ids.append(employee.id)
        db.session.remove()
    return Fixture(secret, step, tokens, ids)


def reset_code_counters(engine, ids: list[int]) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(Employee).where(Employee.id.in_(ids))
                     .values(mfa_failed_count=0, mfa_lockout_count=0, mfa_locked_until=None))


def locked_verifiers(engine, ids: list[int]) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(Employee)
                           .where(Employee.id.in_(ids), Employee.mfa_lockout_count > 0))


# --- gunicorn -------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn in its own process group, its output to a file; stop() ends the whole group."""

    def __init__(self, label: str, app_spec: str, workers: int, env: dict[str, str], log: Path,
                 extra: tuple[str, ...] = ()):
        self.label, self.port, self.log, self._offset = label, free_port(), log, 0
        full_env = os.environ | env | {"WEB_CONCURRENCY": str(workers), "BIND": f"127.0.0.1:{self.port}"}
        self._log_file = log.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own gunicorn, arguments of our own
            [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", *extra, app_spec], cwd=ROOT, env=full_env,
            stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.label} gunicorn exited ({self.process.returncode}); see {self.log}:\n"
                                 + self.log.read_text()[-2000:])
            try:
                if request(self.port, "GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"{self.label} gunicorn did not answer /healthz within {STARTUP_SECONDS} s")

    def settle(self) -> None:
        """Wait until the queue wrk left behind is served: a sync worker takes connections in turn,
        so /healthz answers after them."""
        for _ in range(2):
            request(self.port, "GET", "/healthz")
        time.sleep(0.5)

    def mark(self) -> None:
        """From here on, census() counts the logged requests."""
        self._offset = self.log.stat().st_size

    def census(self) -> dict[tuple[str, str, int], int]:
        """Requests the portal logged since mark(), by (method, path, status); /healthz left out."""
        with self.log.open("rb") as stream:
            stream.seek(self._offset)
            data = stream.read()
        census: dict[tuple[str, str, int], int] = {}
        for line in data.splitlines():
            try:
                entry = json.loads(line) if line.startswith(b"{") else None
            except ValueError:
                entry = None
            if entry and entry.get("path") != "/healthz":
                key = (entry.get("method"), entry.get("path"), entry.get("status"))
                census[key] = census.get(key, 0) + 1
        return census

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=25)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass
        self._log_file.close()


# --- HTTP by hand (the Secure cookie over loopback) -----------------------------------------------------

def request(port: int, method: str, path: str, form: dict | None = None, cookies: dict | None = None,
            headers: dict | None = None) -> tuple[int, http.client.HTTPMessage, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent = dict(PROXY_HEADERS) | (headers or {})
    if cookies:
        sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    body = None
    if form is not None:
        body = urlencode(form)
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        return response.status, response.headers, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


class Browser:
    """Just enough of a browser: keeps the cookies a server sets, sends them back."""

    def __init__(self, port: int):
        self.port, self.cookies = port, {}

    def __call__(self, method: str, path: str, form: dict | None = None) -> tuple[int, str, str]:
        # Over HTTPS (X-Forwarded-Proto) Flask-WTF wants a same-origin Referer on a form post.
        referer = {"Referer": f"https://127.0.0.1:{self.port}{path}"} if form is not None else {}
        status, headers, body = request(self.port, method, path, form, self.cookies, referer)
        for line in headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(line).items():
                self.cookies[name] = morsel.value
        return status, headers.get("Location", ""), body


def portal_sign_in(port: int, secret: str, enrolled_step: int) -> str:
    """The real login form, then the second step with a code of a step not used yet; returns the cookie."""
    browser = Browser(port)
    _, _, page = browser("GET", "/login")
    status, location, _ = browser("POST", "/login", {"csrf_token": csrf_token(page), "username": VIEWER,
                                                      "password": PASSWORD})
    if status != 302 or not location.endswith("/login/verify"):
        raise SystemExit(f"POST /login answered {status} -> {location!r}, not the second step")
    _, _, page = browser("GET", "/login/verify")
    step = max(int(time.time()) // 30, enrolled_step + 1)
    status, location, _ = browser("POST", "/login/verify", {"csrf_token": csrf_token(page), "method": "totp",
                                                             "code": pyotp.TOTP(secret).generate_otp(step)})
    if status != 302 or location.endswith("/login/verify"):
        raise SystemExit(f"POST /login/verify answered {status} -> {location!r}: the code was not accepted")
    # The first page after sign-in gives the session its CSRF secret (a new cookie); a browser keeps
    # that cookie, so wrk sends it too. With the cookie of the redirect, every measured page view
    # would make a new secret and sign a new cookie that wrk throws away: not what a browser costs.
    browser("GET", "/")
    return browser.cookies[PORTAL_COOKIE]


def reference_sign_in(port: int) -> str:
    browser = Browser(port)
    status, _, _ = browser("POST", "/login", {"username": VIEWER, "password": PASSWORD})
    if status != 302:
        raise SystemExit(f"reference POST /login answered {status}")
    return browser.cookies[REFERENCE_COOKIE]


def check_page(port: int, cookie_name: str, cookie: str) -> int:
    """GET / signed in: 200 with the start page; returns its size in bytes."""
    status, headers, body = request(port, "GET", "/", cookies={cookie_name: cookie})
    if status != 200 or "Welcome, Bench Viewer" not in body:
        raise SystemExit(f"GET / with the session cookie answered {status} {headers.get('Location', '')}: "
                         "not the signed-in start page")
    if headers.get("Set-Cookie"):
        raise SystemExit("GET / with the session cookie set a new cookie: wrk would measure a browser that "
                         "ignores it, not the steady state")
    return len(body.encode())


# --- wrk --------------------------------------------------------------------------------------------------

@dataclass
class Figures:
    rps: float
    p50: float
    p99: float
    requests: int
    bad_status: int
    socket_errors: str
    other_cpu: float = 0.0  # % of the machine's CPU time used by processes not serving the run
    cpu_ms: dict[str, float] | None = None  # CPU time per request answered, by part of the run (CpuWatch)


UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * UNITS_MS[unit]


def run_wrk(args, url: str, headers: dict[str, str], script: Path | None, seconds: float,
            connections: int) -> Figures:
    threads = min(args.threads, connections)
    command = [WRK, "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout  # noqa: S603
    try:
        percentiles = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", output, re.MULTILINE))
        errors = re.search(r"Socket errors: (.*)", output)
        return Figures(rps=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
                       p50=_ms(percentiles["50"]), p99=_ms(percentiles["99"]),
                       requests=int(re.search(r"(\d+) requests in", output).group(1)),
                       bad_status=int((re.search(r"Non-2xx or 3xx responses: (\d+)", output) or [0, 0])[1]),
                       socket_errors=errors.group(1) if errors else "none")
    except (AttributeError, KeyError) as error:
        raise SystemExit(f"could not read wrk's output ({error}):\n{output}") from None


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _busy_ticks() -> int:
    """CPU time the whole machine spent busy (not idle or waiting for I/O), in clock ticks."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return user + nice + system + irq + softirq + steal


def _process_ticks() -> dict[int, tuple[int, str, int]]:
    """Every process: (process group, name, user + system clock ticks)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        rest = text[text.rindex(")") + 2:].split()
        found[int(entry.name)] = (int(rest[2]), name, int(rest[11]) + int(rest[12]))
    return found


def _backends(database: str) -> set[int]:
    with psycopg.connect(PG_ADMIN) as conn:
        return {row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,))}


class CpuWatch:
    """How much CPU other processes took while wrk ran: the machine's busy time less that of the run's own
    processes (gunicorn's process group, wrk, the PostgreSQL backends of the scratch database, Redis,
    py-spy and this script). A figure measured while others took much of the two CPUs is not comparable."""

    def __init__(self, server: "Server", database: str, profiler: int | None = None):
        self.group, self.database, self.profiler = server.process.pid, database, profiler

    def __enter__(self):
        self.started, self.busy = time.monotonic(), _busy_ticks()
        self.processes, self.children = _process_ticks(), os.times()
        return self

    def __exit__(self, *exc) -> None:
        busy, processes, children = _busy_ticks(), _process_ticks(), os.times()
        backends = _backends(self.database)
        wrk = round((children.children_user + children.children_system - self.children.children_user
                     - self.children.children_system) * CLOCK_TICKS)  # reaped by now
        self.parts = {"workers": 0, "PostgreSQL": 0, "Redis": 0, "wrk": wrk, "bench": 0}
        for pid, (group, name, ticks) in processes.items():
            part = ("workers" if group == self.group else "PostgreSQL" if pid in backends
                    else "Redis" if name == "redis-server" else "bench" if pid in (os.getpid(), self.profiler)
                    else None)
            if part is not None:
                self.parts[part] += ticks - self.processes.get(pid, (0, "", 0))[2]
        capacity = (time.monotonic() - self.started) * CLOCK_TICKS * (os.cpu_count() or 1)
        self.other = max(0.0, 100 * (busy - self.busy - sum(self.parts.values())) / capacity)
        self.kernel = max(0, busy - self.busy - sum(self.parts.values()))  # softirq (loopback) and the rest

    def per_request(self, requests: int) -> dict[str, float]:
        """CPU milliseconds per request answered, by part; "machine" is all busy time, others included."""
        ms = 1000 / CLOCK_TICKS / max(requests, 1)
        figures = {part: ticks * ms for part, ticks in self.parts.items() if part != "bench"}
        figures["machine"] = (sum(self.parts.values()) + self.kernel) * ms
        return figures


def measure(args, server: "Server", path: str, headers: dict[str, str], script: Path | None = None,
            profile: Path | None = None, connections: int | None = None) -> Figures:
    """A warm-up run, then the measured one; each followed by server.settle(), so that what the
    server still had queued when wrk stopped is served before anything else is measured or counted.
    With `profile`, py-spy samples every worker during the measured run."""
    connections = connections or args.connections
    if args.warmup > 0:
        run_wrk(args, server.url + path, headers, script, args.warmup, connections)
        server.settle()
    server.mark()
    spy = None
    if profile is not None:
        spy = subprocess.Popen(  # noqa: S603 - py-spy on our own gunicorn
            [args.py_spy, "record", "--pid", str(server.process.pid), "--subprocesses", "--nonblocking",
             "--format", "raw", "--rate", "200", "--duration", f"{args.duration:g}", "--output", str(profile)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # py-spy attaches to the workers
    with CpuWatch(server, args.database, spy.pid if spy else None) as watch:
        figures = run_wrk(args, server.url + path, headers, script, args.duration, connections)
    figures.other_cpu = watch.other
    figures.cpu_ms = watch.per_request(figures.requests)
    server.settle()
    if spy is not None:
        spy.wait(timeout=60)
    return figures


def census_text(census: dict) -> str:
    return ", ".join(f"{n} x {m} {p} {s}" for (m, p, s), n in sorted(census.items(), key=lambda i: -i[1]))


# --- the whole run ----------------------------------------------------------------------------------------

@dataclass
class Row:
    workers: int
    case: str
    figures: Figures
    note: str = ""
    ratio: float | None = None  # page views: the median of the rounds' portal / reference ratios


def median_round(rounds: list[Figures]) -> Figures:
    """The round with the median rate (a real run, so its p50 and p99 belong together)."""
    return sorted(rounds, key=lambda f: f.rps)[len(rounds) // 2]


def run_for_workers(args, workers: int, env: dict, fixture: Fixture, engine, scratch: Path,
                    servers: list, cookies: dict, rows: list[Row]) -> None:
    """Both apps are started; their page views are measured in alternating rounds (portal, reference,
    portal, ...), so that a slow minute of the machine weighs on both; then the portal's other cases."""
    portal = Server("portal", "wsgi:app", workers, env, scratch / f"portal-{workers}.log")
    servers.append(portal)
    reference = Server("reference", "reference_app:app", workers,
                       {"SECRET_KEY": env["SECRET_KEY"], "REFERENCE_DATABASE_URL": env["DATABASE_URL"]},
                       scratch / f"reference-{workers}.log", extra=("--pythonpath", "bench"))
    servers.append(reference)
    portal.wait_healthy()
    reference.wait_healthy()
    if "portal" not in cookies:
        cookies["portal"] = portal_sign_in(portal.port, fixture.viewer_secret, fixture.viewer_step)
    cookie = cookies["portal"]
    ref_cookie = reference_sign_in(reference.port)
    size = check_page(portal.port, PORTAL_COOKIE, cookie)
    ref_size = check_page(reference.port, REFERENCE_COOKIE, ref_cookie)
    print(f"\n== {workers} workers: portal on {portal.url} (GET / is {size} bytes), reference on {reference.url} "
          f"({ref_size} bytes)", flush=True)

    page_rounds, ref_rounds, census = [], [], {}
    for number in range(1, args.rounds + 1):
        last = number == args.rounds
        profile = scratch / f"page-{workers}.raw" if args.profile and last else None
        page = measure(args, portal, "/", PROXY_HEADERS | {"Cookie": f"{PORTAL_COOKIE}={cookie}"}, profile=profile)
        for key, count in portal.census().items():
            census[key] = census.get(key, 0) + count
        if profile is not None:
            print_profile(profile, f"{workers} workers, (a) page view")
        ref_profile = scratch / f"reference-{workers}.raw" if args.profile and last else None
        ref = measure(args, reference, "/", PROXY_HEADERS | {"Cookie": f"{REFERENCE_COOKIE}={ref_cookie}"},
                      profile=ref_profile)
        if ref_profile is not None:
            print_profile(ref_profile, f"{workers} workers, (c) reference page view")
        page_rounds.append(page)
        ref_rounds.append(ref)
        print(f"   round {number}: (a) portal page views {page.rps:.0f}/s, (c) reference {ref.rps:.0f}/s, "
              f"ratio {page.rps / ref.rps:.2f}", flush=True)
    check_page(portal.port, PORTAL_COOKIE, cookie)
    check_page(reference.port, REFERENCE_COOKIE, ref_cookie)
    ratios = sorted(p.rps / r.rps for p, r in zip(page_rounds, ref_rounds, strict=True))
    page, ref = median_round(page_rounds), median_round(ref_rounds)
    page.requests = sum(f.requests for f in page_rounds)
    page.bad_status = sum(f.bad_status for f in page_rounds)
    by_round = ", ".join(f"{f.rps:.0f}" for f in page_rounds)
    rounds_text = (f"{args.rounds} rounds, the median shown; req/s by round {by_round}; "
                   f"ratio by round {', '.join(f'{x:.2f}' for x in ratios)}")
    rows.append(Row(workers, "page view, portal", page,
                    census_note(census, "GET", "/", 200, page) + "; " + rounds_text, ratio=ratios[len(ratios) // 2]))
    reference.stop()
    servers.remove(reference)

    alone = measure(args, portal, "/", PROXY_HEADERS | {"Cookie": f"{PORTAL_COOKIE}={cookie}"}, connections=1)
    census = portal.census()
    print(f"   (a1) page views, one client: {alone.rps:.0f}/s, p50 {alone.p50:.1f} ms", flush=True)
    rows.append(Row(workers, "page view, portal, 1 client", alone, census_note(census, "GET", "/", 200, alone)))

    script = scratch / "verify.lua"
    script.write_text(VERIFY_LUA % {"tokens": ", ".join(f'"{t}"' for t in fixture.tokens), "code": WRONG_CODE})
    reset_code_counters(engine, fixture.verifier_ids)
    profile = scratch / f"verify-{workers}.raw" if args.profile else None
    codes = measure(args, portal, "/api/mfa/verify", {}, script, profile=profile)
    census = portal.census()
    locked = locked_verifiers(engine, fixture.verifier_ids)
    note = census_note(census, "POST", "/api/mfa/verify", 401, codes)
    if locked:
        note += f"; {locked} of {len(fixture.verifier_ids)} verifiers LOCKED: raise --verifiers"
    print(f"   (b) code checks: {codes.rps:.0f}/s; portal log: {census_text(census)}; locked verifiers: {locked}",
          flush=True)
    rows.append(Row(workers, "code check (refused, counted)", codes, note))
    if profile is not None:
        print_profile(profile, f"{workers} workers, (b) code check")
    portal.stop()
    servers.remove(portal)
    rows.append(Row(workers, "page view, reference", ref,
                    f"no request log: the page checked before and after; {args.rounds} rounds, the median shown; "
                    f"req/s by round {', '.join(f'{f.rps:.0f}' for f in ref_rounds)}"))


# --- where the time goes (--profile) -------------------------------------------------------------------

# Library frames worth naming beside the app's own (portal/, reference_app): what they stand for.
PROFILE_LANDMARKS = {
    "SyncWorker.handle_request (gunicorn/workers/sync.py)": "a request in the worker, HTTP included",
    "Flask.wsgi_app (flask/app.py)": "the Flask app",
    "Session._execute_internal (sqlalchemy/orm/session.py)": "SQL statements through the ORM",
    "Connection.wait (psycopg/connection.py)": "  of which waiting for PostgreSQL",
    "DefaultDialect._do_ping_w_event (sqlalchemy/engine/default.py)": "pool pre-ping (SELECT 1 at checkout)",
    "Session.close (sqlalchemy/orm/session.py)": "end of request: ROLLBACK, connection back to the pool",
    "render_template (flask/templating.py)": "page rendering",
    "generate_csrf (flask_wtf/csrf.py)": "CSRF token for the page",
    "SecureCookieSessionInterface.open_session (flask/sessions.py)": "session cookie read",
    "SecureCookieSessionInterface.save_session (flask/sessions.py)": "session cookie written",
    "Limiter._check_request_limit (flask_limiter/_extension.py)": "rate limiter before the view",
    "RouteLimit.__call__.<locals>.__inner (flask_limiter/_limits.py)": "a limited view, the view included",
    "Session.commit (sqlalchemy/orm/session.py)": "COMMIT",
}


def print_profile(raw: Path, title: str, top: int = 24) -> None:
    """py-spy's raw samples of every worker: the share of the samples in which a function is on the
    stack (inclusive), for the app's own functions and a few landmarks of the libraries."""
    if not raw.exists():
        print(f"   (py-spy wrote no profile for {title})")
        return
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        for frame in {re.sub(r":\d+\)$", ")", f) for f in stack.split(";")}:
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
    own = re.compile(r"\((portal/|reference_app)")
    shown_frames = [(n, frame, PROFILE_LANDMARKS.get(frame, "")) for frame, n in inclusive.items()
                    if own.search(frame) or frame in PROFILE_LANDMARKS]
    print(f"\n   Where the time goes, {title}: py-spy, {total} samples of the workers while busy; the share of "
          "samples with the function on the stack:")
    for n, frame, meaning in sorted(shown_frames, reverse=True)[:top]:
        print(f"   {100 * n / total:5.1f}%  {frame[:90]:<90} {meaning}")


def census_note(census: dict, method: str, path: str, status: int, figures: Figures) -> str:
    """What the portal logged for the measured run: wrk counts the answers it read; the log also has the
    requests the server answered after wrk stopped (at most one per connection)."""
    expected = census.get((method, path, status), 0)
    total = sum(census.values())
    if expected != total:
        return f"UNEXPECTED answers: {census_text(census)}"
    return f"the portal logged {total} x {method} {path} {status} ({total - figures.requests} after wrk stopped)"


def report(args, rows: list[Row]) -> None:
    print(f"\nwrk -t {args.threads} -c {args.connections} -d {args.duration:g}s --latency (after a {args.warmup:g} s "
          f"warm-up), loopback; {os.cpu_count()} CPUs.")
    print(f"Targets: page views >= {TARGET_RATIO} x reference; p99 < {TARGET_P99_MS:g} ms at "
          f"{TARGET_CLIENTS} concurrent clients.\n")
    header = (f"{'workers':>7}  {'case':<30} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'vs ref':>7}  "
              f"{'ratio target':<14} {'p99 target':<12} {'other CPU':>9}")
    print(header)
    print("-" * len(header))
    for row in rows:
        f = row.figures
        ratio_text, ratio_verdict = "", ""
        if row.ratio is not None:
            ratio_text = f"{row.ratio:.2f}"
            ratio_verdict = f">= {TARGET_RATIO}: " + ("ok" if row.ratio >= TARGET_RATIO else "MISSED")
        p99_verdict = f"< {TARGET_P99_MS:g}: " + ("ok" if f.p99 < TARGET_P99_MS else "MISSED")
        if row.case.endswith("1 client") or args.connections != TARGET_CLIENTS:
            p99_verdict = f"(not at {TARGET_CLIENTS})"
        print(f"{row.workers:>7}  {row.case:<30} {f.rps:8.0f} {f.p50:8.1f} {f.p99:8.1f} {ratio_text:>7}  "
              f"{ratio_verdict:<14} {p99_verdict:<12} {f.other_cpu:8.0f}%")
    print("\nother CPU = share of the machine's CPU time that processes other than the run's own (gunicorn, wrk, "
          "the scratch database's\nPostgreSQL backends, Redis) took while wrk measured; well above a few %, "
          "the row was measured on a busy machine. Per run:")
    for row in rows:
        f = row.figures
        print(f"  {row.workers} workers, {row.case}: {f.requests} requests, {f.bad_status} non-2xx/3xx, "
              f"socket errors {f.socket_errors}; {row.note}")
    print("\nCPU time per request answered (ms; clock ticks of 10 ms, so a figure near 0 means < 0.1), by part of "
          "the run;\n'machine' is all busy CPU time of the machine per request, the kernel's loopback work included:")
    parts = ("workers", "PostgreSQL", "Redis", "wrk", "machine")
    print(f"  {'workers':>7}  {'case':<30} " + " ".join(f"{p:>10}" for p in parts))
    for row in rows:
        cpu = row.figures.cpu_ms or {}
        print(f"  {row.workers:>7}  {row.case:<30} " + " ".join(f"{cpu.get(p, 0):10.2f}" for p in parts))
    busy = [f"{r.workers} workers, {r.case} ({r.figures.other_cpu:.0f}%)" for r in rows
            if r.figures.other_cpu > BUSY_OTHER_CPU]
    if busy:
        print(f"\nMEASURED ON A BUSY MACHINE (other processes took more than {BUSY_OTHER_CPU:g}% of the CPU): "
              + "; ".join(busy) + ". Their figures, and the ratios made with them, are low: run again.")
    odd = [f"{r.workers} workers, {r.case}" for r in rows if "UNEXPECTED" in r.note or "LOCKED" in r.note]
    if odd:
        print("\nNOT WHAT THE CASE MEANS TO MEASURE (see the notes above): " + "; ".join(odd) + ".")
    print("\nLoad average at the end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + " (the bench's own "
          "processes count in it).")
    print(f"Little's law: with N connections always busy (wrk's closed loop), mean latency = N / (requests/s); "
          f"p99 < {TARGET_P99_MS:g} ms at {TARGET_CLIENTS} clients needs well over "
          f"{TARGET_CLIENTS / (TARGET_P99_MS / 1000):.0f} requests/s.")


def machine() -> str:
    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    except OSError:
        pass
    with psycopg.connect(PG_ADMIN) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    version = subprocess.run([WRK, "-v"], capture_output=True, text=True).stdout  # noqa: S603
    wrk = version.split("\n")[0].split(" [")[0]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} CPUs ({model}), load average {load}; Python {platform.python_version()}, "
            f"PostgreSQL {pg}, {wrk}")


def main() -> None:
    # Line by line even into a file: a process forked while a block of the report sat in the buffer
    # would write that block a second time.
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4], help="worker counts (default 2 4)")
    parser.add_argument("--connections", type=int, default=50, help="wrk -c (default 50)")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t (default 2)")
    parser.add_argument("--duration", type=float, default=15, help="seconds measured per case (default 15)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up before each (default 3)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating rounds of portal and reference page views per worker count; the table shows "
                             "the median round and the median of the rounds' ratios (default 3)")
    parser.add_argument("--verifiers", type=int, default=150,
                        help="employees whose tokens the code checks go round (default 150; each takes 99 "
                             "wrong codes before its lock)")
    parser.add_argument("--profile", action="store_true",
                        help="sample the workers with py-spy during each measured run and print where the time goes "
                             "(py-spy in the venv or on PATH: .venv/bin/pip install py-spy)")
    args = parser.parse_args()
    args.py_spy = shutil.which("py-spy", path=f"{BIN}:{os.environ.get('PATH', '')}")
    if args.profile and args.py_spy is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy (not a requirement of the project)")
    if WRK is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")

    def terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (`cmd &`)
    print(machine(), flush=True)
    servers: list[Server] = []
    engine = None
    scratch = Path(tempfile.mkdtemp(prefix="portal-bench-load-"))  # gunicorn logs, the Lua script
    name = args.database = create_database()
    redis_db = None
    try:
        redis_db = empty_redis_db()
        url = postgres_url(name)
        keys = {"SECRET_KEY": secrets.token_hex(32),
                "MFA_ENCRYPTION_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}
        env = keys | {"PORTAL_ENV": "production", "DATABASE_URL": url, "TRUSTED_PROXY_COUNT": "1",
                      "RATELIMIT_STORAGE_URI": f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}"}
        print(f"scratch database {name}, Redis database {redis_db}", flush=True)
        started = time.perf_counter()
        upgrade = subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],  # noqa: S603 - deploy step
                                 cwd=ROOT, env=os.environ | env, capture_output=True, text=True)
        if upgrade.returncode != 0:
            raise SystemExit(f"flask --app wsgi db upgrade failed:\n{upgrade.stderr[-3000:]}")
        setup_app = create_app(bench_config(Path("unused"), SQLALCHEMY_DATABASE_URI=url, **keys,
                                            ARGON2_TIME_COST=1, ARGON2_MEMORY_COST=8, ARGON2_PARALLELISM=1))
        with setup_app.app_context():
            engine = db.engine
        fixture = populate(setup_app, args.verifiers)
        print(f"migrated and populated in {time.perf_counter() - started:.1f} s: the viewer and "
              f"{args.verifiers} verifiers with tokens, all signed up for the authenticator app", flush=True)
        rows: list[Row] = []
        cookies: dict[str, str] = {}
        for workers in args.workers:
            run_for_workers(args, workers, env, fixture, engine, scratch, servers, cookies, rows)
        report(args, rows)
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up", file=sys.stderr)
        sys.exit(130)
    finally:
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # a second Ctrl-C must not stop the clean-up
            signal.signal(number, signal.SIG_IGN)
        for server in servers:
            server.stop()
        if engine is not None:
            engine.dispose()
        cleaned = [f"dropped {name}"] if drop_database(name) else []
        if redis_db is not None and flush_redis_db(redis_db):
            cleaned.append(f"flushed Redis database {redis_db}")
        shutil.rmtree(scratch, ignore_errors=True)
        print("; ".join(["stopped gunicorn", *cleaned]), file=sys.stderr)


if __name__ == "__main__":
    main()
