"""What the bench scripts share: start-up, the scratch app, signing in, timing, query plans.

Import it before config or portal: it puts the project on sys.path and points
PORTAL_INSTANCE_DIR at a temporary folder, removed at exit (config.py keeps a development
key under the instance folder at import; the bench keeps it out of the repository). Ruff's
import sorting keeps it there: `_common` sorts with the third-party imports, before the
first-party `config` and `portal`.
"""
import atexit
import base64
import os
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
if "PORTAL_INSTANCE_DIR" not in os.environ:
    os.environ["PORTAL_INSTANCE_DIR"] = tempfile.mkdtemp(prefix="portal-bench-")
    atexit.register(shutil.rmtree, os.environ["PORTAL_INSTANCE_DIR"], ignore_errors=True)

import sqlalchemy as sa  # noqa: E402
from alembic.util.exc import CommandError  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from config import Config  # noqa: E402
from portal.extensions import db  # noqa: E402

PASSWORD = "bench password for everyone"  # noqa: S105 - the scratch databases' shared password
CSRF_FIELD_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
CSRF_META_RE = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


# --- the app on a scratch SQLite file ---------------------------------------------------------------

def bench_config(db_path: Path, base: type = Config, **overrides) -> type:
    """A config class on the scratch file. On `Config`: production-like (no TESTING, no DEBUG,
    production Argon2 parameters), with fresh keys and in-memory rate-limit counters."""
    settings = {
        "SECRET_KEY": secrets.token_hex(32),
        "MFA_ENCRYPTION_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    return type("BenchConfig", (base,), settings | overrides)


# --- a scratch PostgreSQL database (the server of the machine: 127.0.0.1:5432, user postgres) -------

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def create_postgres_database(prefix: str) -> str:
    """A new empty database named prefix_<random>; returns its name."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_postgres_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_url(name: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def migrate_to_head(app) -> float:
    """Apply the real migrations up to head, as a deployment would; returns the seconds taken."""
    started = time.perf_counter()
    with app.app_context():
        upgrade()
    return time.perf_counter() - started


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _forget_engine(app) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def reuse_or_build(app, db_path: Path, rebuild: bool, complete: Callable[[], bool],
                   load: Callable[[], str]) -> str:
    """Bring the scratch file to head and return what was done.

    A copy already there is reused when `complete()` says so (called in an app context after
    the upgrade, which applies any revision newer than the copy); otherwise, or with `rebuild`,
    the file is built from nothing: the migrations, then `load()` (in an app context), whose
    text describes the data."""
    if rebuild and db_path.exists():
        db_path.unlink()
    if db_path.exists():
        try:
            migrated = migrate_to_head(app)
            with app.app_context():
                is_complete = complete()
        except CommandError as error:  # e.g. the copy names a revision that was replaced since
            print(f"cannot reuse {shown(db_path)} ({error}): building it anew")
            is_complete = False
        _forget_engine(app)
        if is_complete:
            return f"reused {shown(db_path)} (schema upgrade {migrated:.1f} s; --rebuild builds it anew)"
        db_path.unlink()  # incomplete: start from nothing
    started = time.perf_counter()
    migrate_to_head(app)
    with app.app_context():
        described = load()
    total = time.perf_counter() - started
    _forget_engine(app)
    return f"built {shown(db_path)} in {total:.1f} s: {described} ({db_path.stat().st_size / 2**20:.0f} MiB)"


# --- signing in -------------------------------------------------------------------------------------

def csrf_token(html: str) -> str:
    """The CSRF token of the page's form."""
    match = CSRF_FIELD_RE.search(html)
    if match is None:
        raise SystemExit("no CSRF token in the page")
    return match.group(1)


def meta_csrf_token(html: str) -> str:
    """The CSRF token a page's scripts read from <meta name="csrf-token">."""
    match = CSRF_META_RE.search(html)
    if match is None:
        raise SystemExit('no <meta name="csrf-token"> in the page')
    return match.group(1)


def sign_in(client, username: str, password: str = PASSWORD) -> None:
    """Sign in through the real login form, the CSRF token read from the page."""
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"csrf_token": token, "username": username, "password": password})
    if response.status_code != 302:
        raise SystemExit(f"could not sign in as {username}: POST /login answered {response.status_code}")


# --- timing -----------------------------------------------------------------------------------------

def timed(send: Callable, expect: int = 200) -> float:
    """Milliseconds of one request made by `send()`, its body read in full; any other status
    than `expect` stops the bench."""
    t0 = time.perf_counter()
    response = send()
    response.get_data()
    elapsed = (time.perf_counter() - t0) * 1000
    response.close()
    if response.status_code != expect:
        raise SystemExit(f"{response.request.method} {response.request.path} answered {response.status_code}, "
                         f"not {expect}")
    return elapsed


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]


def median_p95(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), p95(values)


# --- what the database does -------------------------------------------------------------------------

@contextmanager
def statement_log(engine):
    """Record (seconds, SQL, parameters) of every statement run inside the block. The seconds run
    until SQLite's cursor has the first row; fetching the rest (while the ORM reads) is not in them."""
    log: list = []

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_t0"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        log.append((time.perf_counter() - conn.info.pop("bench_t0"), statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    try:
        yield log
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)


def explain(app, send: Callable, top: int = 3, min_ms: float = 2.0, table: str | None = None) -> None:
    """Run one request (`send()`) and print its slowest SELECTs with their time and the database's
    query plan: the `top` slowest of at least `min_ms`, only those naming `table` when given."""
    with app.app_context():
        engine = db.engine
        prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
        with statement_log(engine) as log:
            send().get_data()
        selects = [s for s in log if s[1].lstrip().upper().startswith("SELECT")
                   and (table is None or table in s[1])]
        raw = engine.raw_connection()
        try:
            for seconds, statement, parameters in sorted(selects, key=lambda s: -s[0])[:top]:
                if seconds * 1000 < min_ms:
                    continue
                print(f"      {seconds * 1000:7.1f} ms  {' '.join(statement.split())[:300]}")
                print(f"                  params {parameters}")
                cursor = raw.cursor()
                cursor.execute(prefix + statement, parameters)
                for row in cursor.fetchall():
                    print(f"                  plan: {row[-1]}")
                cursor.close()
        finally:
            raw.close()
