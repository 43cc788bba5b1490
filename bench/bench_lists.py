"""Benchmark: the list pages at 100,000 employees and 1,000,000 audit rows (DESIGN.md §7).

Builds a scratch SQLite database under bench/ through the real migrations, signs
in as an administrator through the real login form, and times requests to
Employee maintenance and the audit log with the Flask test client. It prints
figures and never asserts them: the target (median under 50 ms each on SQLite)
is printed next to each case.

    .venv/bin/python bench/bench_lists.py              # reuses bench/bench.db when it is complete
    .venv/bin/python bench/bench_lists.py --rebuild    # builds it again from nothing
    .venv/bin/python bench/bench_lists.py --explain    # query plans of every case, not only the slow ones
    .venv/bin/python bench/bench_lists.py --postgres   # the same on a scratch PostgreSQL database
                                                       # (127.0.0.1:5432, user postgres; built, then dropped)
"""
import argparse
import random
import re
import secrets
import time
from datetime import datetime, timedelta
from itertools import accumulate
from pathlib import Path

import sqlalchemy as sa
from _common import (
    PASSWORD,
    ROOT,
    bench_config,
    create_postgres_database,
    drop_postgres_database,
    explain,
    median_p95,
    migrate_to_head,
    postgres_url,
    reuse_or_build,
    sign_in,
    timed,
)
from faker.providers.person.en_US import Provider as Names

from portal import create_app
from portal.extensions import db
from portal.models import AuditEvent, Employee
from portal.models.employee import employee_search_text
from portal.security.passwords import hash_password
from portal.services.audit_log import AuditFilter

EMPLOYEES = 100_000
AUDIT_ROWS = 1_000_000
BATCH = 20_000
TARGET_MS = 50.0
ADMIN_USERNAME = "bench.admin"
NOW = datetime(2025, 6, 30, 18, 0, 0)
ROW_RE = re.compile(r"<tr>\s*<td")

USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36 "
    "Edg/125.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
    "Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
    "Mobile/15E148 Safari/604.1",
    "python-requests/2.32.3",
]

# Event name, weight, who acts: "self" (the employee on themselves), "none" (nobody signed in), "admin".
EVENT_MIX = [
    ("signin.succeeded", 40.0, "self"),
    ("signout", 24.0, "self"),
    ("signin.failed", 15.0, "failed"),
    ("session.ended", 8.0, "self"),
    ("employee.changed", 4.0, "admin"),
    ("password.changed", 3.0, "self"),
    ("password.set_by_admin", 1.5, "admin"),
    ("employee.created", 1.0, "admin"),
    ("account.locked", 0.6, "none"),
    ("settings.changed", 0.3, "admin_only"),
]


# --- building the scratch database ----------------------------------------------------------

def bench_app(db_path: Path, database_url: str | None = None):
    overrides = {"SQLALCHEMY_DATABASE_URI": database_url} if database_url else {}
    return create_app(bench_config(db_path, **overrides))


def _counts() -> tuple[int, int]:
    employees = db.session.scalar(sa.select(sa.func.count()).select_from(Employee))
    audit = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    return employees, audit


def _username(first: str, last: str) -> str:
    return re.sub(r"[^a-z0-9.]", "", f"{first}.{last}".lower())


def employee_rows(rng: random.Random, password_hash: str) -> list[dict]:
    firsts, first_weights = list(Names.first_names), list(Names.first_names.values())
    lasts, last_weights = list(Names.last_names), list(Names.last_names.values())
    seen: dict[str, int] = {}
    rows = [{
        "username": ADMIN_USERNAME, "username_key": ADMIN_USERNAME, "full_name": "Bench Administrator",
        "email": "bench.admin@example.com", "mobile_phone": None, "status_level": 9, "active": True,
        "password_hash": password_hash, "session_token": secrets.token_urlsafe(32), "failed_login_count": 0,
        "lockout_count": 0, "created_at": NOW - timedelta(days=1100), "updated_at": NOW - timedelta(days=1100),
        "password_changed_at": NOW - timedelta(days=1100),
    }]
    levels = rng.choices(range(1, 10), weights=[40, 20, 15, 10, 5, 4, 2, 2, 0.3], k=EMPLOYEES - 1)
    for first, last, level in zip(rng.choices(firsts, first_weights, k=EMPLOYEES - 1),
                                  rng.choices(lasts, last_weights, k=EMPLOYEES - 1), levels, strict=True):
        base = _username(first, last)
        seen[base] = seen.get(base, 0) + 1
        username = base if seen[base] == 1 else f"{base}{seen[base]}"
        created = NOW - timedelta(seconds=rng.randrange(3 * 365 * 86400))
        email_domain = rng.choice(["example.com", "example.com", "example.org", "example.net"])
        rows.append({
            "username": username, "username_key": username, "full_name": f"{first} {last}",
            "email": None if rng.random() < 0.05 else f"{username}@{email_domain}",
            "mobile_phone": f"+4477{rng.randrange(10**8):08d}" if rng.random() < 0.6 else None,
            "status_level": level, "active": rng.random() < 0.93, "password_hash": password_hash,
            "session_token": secrets.token_urlsafe(32), "failed_login_count": 0, "lockout_count": 0,
            "created_at": created, "updated_at": created, "password_changed_at": created,
            "last_login_at": NOW - timedelta(seconds=rng.randrange(90 * 86400)) if rng.random() < 0.8 else None,
        })
    # A Core insert bypasses the model's validators: fill what they would.
    for row in rows:
        row["search_text"] = employee_search_text(row["username"], row["full_name"], row["email"])
    return rows


def audit_rows(rng: random.Random, employees: list[tuple[int, str, int]]):
    """1,000,000 rows over the past year, ids in time order, in batches for executemany.

    Activity is skewed the way real logs are: a few employees sign in all day, most
    rarely; a handful of administrators make most of the changes."""
    ids = [e[0] for e in employees]
    activity = list(accumulate(rng.paretovariate(1.2) for _ in ids))
    admins = [e[0] for e in employees if e[2] >= 9]
    admin_activity = list(accumulate(rng.paretovariate(0.8) for _ in admins))
    usernames = {e[0]: e[1] for e in employees}
    addresses = ([f"10.{rng.randrange(1, 40)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(1500)]
                 + [f"{net}.{rng.randrange(1, 255)}" for net in ("192.0.2", "198.51.100", "203.0.113")
                    for _ in range(100)])
    first_names = list(Names.first_names)
    names, weights, kinds = zip(*EVENT_MIX, strict=True)
    kind_of = dict(zip(names, kinds, strict=True))
    start = NOW - timedelta(days=365)
    step = timedelta(days=365) / AUDIT_ROWS
    batch = []
    for i in range(AUDIT_ROWS):
        event = rng.choices(names, weights)[0]
        kind = kind_of[event]
        employee = rng.choices(ids, cum_weights=activity)[0]
        actor = subject = employee
        details: dict = {}
        if kind == "admin":
            actor = rng.choices(admins, cum_weights=admin_activity)[0]
        elif kind == "admin_only":
            actor, subject = rng.choices(admins, cum_weights=admin_activity)[0], None
            details = {"key": rng.choice(["lockout.threshold", "session.inactivity_minutes", "mfa.mode"]),
                       "old": rng.randrange(5, 30), "new": rng.randrange(5, 30)}
        elif kind in ("none", "failed"):
            actor = None
        if event == "signin.failed":
            if rng.random() < 0.2:
                subject = None
                details = {"username": f"{rng.choice(first_names).lower()}{i % 97}", "reason": "unknown user"}
            else:
                details = {"reason": rng.choice(["wrong password"] * 8 + ["account locked", "inactive"])}
        elif event == "signout":
            details = {"reason": "signed out"}
        elif event == "session.ended":
            details = {"reason": rng.choice(["expired", "inactivity", "password changed", "employee deactivated"])}
        elif event == "account.locked":
            details = {"until": (start + step * i + timedelta(minutes=15)).isoformat(timespec="seconds"),
                       "lock_number": rng.randrange(1, 4)}
        elif event == "employee.changed":
            level = rng.randrange(1, 9)
            details = rng.choice([{"status_level": {"old": level, "new": level + 1}},
                                  {"active": {"old": True, "new": False}},
                                  {"email": {"old": None, "new": f"{usernames[subject]}@example.com"}}])
        elif event == "employee.created":
            details = {"username": usernames[subject], "status_level": 1, "active": True}
        batch.append({
            "occurred_at": start + step * i + timedelta(seconds=rng.random() * step.total_seconds()),
            "event": event, "actor_id": actor, "subject_id": subject, "details": details,
            "client_address": rng.choice(addresses), "user_agent": rng.choice(USER_AGENTS),
        })
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _complete() -> bool:
    employees_n, audit_n = _counts()  # each run's sign-in adds an audit row or two
    return employees_n == EMPLOYEES and AUDIT_ROWS <= audit_n < AUDIT_ROWS + 10_000


def load() -> str:
    """The employees, then the audit rows, by Core inserts in batches."""
    rng = random.Random(20250630)  # noqa: S311 - repeatable fake data, not secrets
    password_hash = hash_password(PASSWORD)
    with db.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA synchronous = OFF")  # a scratch file: speed over durability
        t0 = time.perf_counter()
        rows = employee_rows(rng, password_hash)
        for i in range(0, len(rows), BATCH):
            conn.execute(sa.insert(Employee.__table__), rows[i:i + BATCH])
        t_employees = time.perf_counter() - t0
        employees = list(conn.execute(sa.select(Employee.id, Employee.username, Employee.status_level)))
        t0 = time.perf_counter()
        for batch in audit_rows(rng, employees):
            conn.execute(sa.insert(AuditEvent.__table__), batch)
        t_audit = time.perf_counter() - t0
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")  # statistics and the visibility map, as autovacuum would leave them
    employees_n, audit_n = _counts()
    return f"{employees_n:,} employees in {t_employees:.1f} s, {audit_n:,} audit rows in {t_audit:.1f} s"


def build_postgres(app) -> str:
    """The scratch PostgreSQL database is new: the migrations, then the data."""
    started = time.perf_counter()
    migrate_to_head(app)
    with app.app_context():
        described = load()
    return f"built the scratch PostgreSQL database in {time.perf_counter() - started:.1f} s: {described}"


def build(app, rebuild: bool, db_path: Path) -> str:
    """Bring the schema to head; load the data unless a complete copy is already there."""
    return reuse_or_build(app, db_path, rebuild, _complete, load)


# --- timing -----------------------------------------------------------------------------------

def cases(app) -> list[tuple[str, str, int | None]]:
    """(label, URL, how many rows match) for every case; the employees are picked from the data."""
    with app.app_context():
        busiest_id, busiest_n = db.session.execute(
            sa.select(AuditEvent.actor_id, sa.func.count()).where(AuditEvent.actor_id.is_not(None))
            .group_by(AuditEvent.actor_id).order_by(sa.func.count().desc()).limit(1)).one()
        busiest = db.session.get(Employee, busiest_id).username
        typical = db.session.scalar(sa.select(Employee.username).where(Employee.id == EMPLOYEES // 2))
        mid_id = db.session.scalar(sa.select(sa.func.max(AuditEvent.id))) // 2
        month_from, month_to = (NOW - timedelta(days=200)).date(), (NOW - timedelta(days=170)).date()

        def matching(**kw) -> int:
            stmt = AuditFilter(**kw).statement()
            return db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))

        employees_total = db.session.scalar(sa.select(sa.func.count()).select_from(Employee))
        smith = db.session.scalar(sa.select(sa.func.count()).select_from(Employee).where(
            Employee.username_key.like("%smith%") | sa.func.lower(Employee.full_name).like("%smith%")
            | Employee.email.like("%smith%")))
        # two letters: too short for PostgreSQL's trigram index, so the whole index is read
        two_letters = db.session.scalar(sa.select(sa.func.count()).select_from(Employee).where(
            Employee.search_text.contains("qu")))
        return [
            ("Employees: list page 1", "/employees/", employees_total),
            ("Employees: list page 1000", "/employees/?page=1000", employees_total),
            ("Employees: search q=smith", "/employees/?q=smith", smith),
            ("Employees: search q=smith page 20", "/employees/?q=smith&page=20", smith),
            ("Employees: search q=qu (two letters)", "/employees/?q=qu", two_letters),
            ("Audit: first page", "/audit/", AUDIT_ROWS),
            ("Audit: event=account.locked", "/audit/?event=account.locked", matching(event="account.locked")),
            ("Audit: event=signin.failed", "/audit/?event=signin.failed", matching(event="signin.failed")),
            (f"Audit: newer page after={mid_id}", f"/audit/?after={mid_id}", AUDIT_ROWS - mid_id),
            (f"Audit: employee={busiest} (busiest)", f"/audit/?employee={busiest}", matching(username=busiest)),
            (f"Audit: employee={typical} (typical)", f"/audit/?employee={typical}", matching(username=typical)),
            (f"Audit: older page before={mid_id}", f"/audit/?before={mid_id}", mid_id - 1),
            (f"Audit: date range {month_from}..{month_to}", f"/audit/?date_from={month_from}&date_to={month_to}",
             matching(date_from=month_from, date_to=month_to)),
            ("Audit: busiest employee + account.locked", f"/audit/?employee={busiest}&event=account.locked",
             matching(username=busiest, event="account.locked")),
            ("Audit: busiest employee + date range", f"/audit/?employee={busiest}&date_from={month_from}"
             f"&date_to={month_to}", matching(username=busiest, date_from=month_from, date_to=month_to)),
        ]


def measure(app, n: int, show_plans: bool) -> None:
    client = app.test_client()
    with app.app_context():
        sign_in(client, ADMIN_USERNAME)
    table = cases(app)
    print(f"\n{n} timed requests per case after 2 warm-up requests; server time in-process (Flask test client),"
          " body read in full.\n")
    header = f"{'case':<52} {'median ms':>9} {'p95 ms':>8} {'target':>9} {'rows shown':>10} {'matching':>10}"
    print(header)
    print("-" * len(header))
    slow = []
    for label, url, matching in table:
        for _ in range(2):
            body = client.get(url).get_data(as_text=True)
        median, p95 = median_p95([timed(lambda url=url: client.get(url)) for _ in range(n)])
        shown = len(ROW_RE.findall(body))
        verdict = "ok" if median < TARGET_MS else "MISSES TARGET"
        print(f"{label:<52} {median:9.1f} {p95:8.1f} {'< 50 ms':>9} {shown:>10,} {matching:>10,}  {verdict}")
        if median >= TARGET_MS or show_plans:
            slow.append((label, url))
    for label, url in slow:
        print(f"\n  {label}: {url}  (slowest statements, with their query plans)")
        explain(app, lambda url=url: client.get(url))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="build the scratch database again from nothing")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per case (default 30)")
    parser.add_argument("--explain", action="store_true", help="print query plans for every case")
    parser.add_argument("--db", type=Path, default=ROOT / "bench" / "bench.db", help="scratch SQLite file")
    parser.add_argument("--postgres", action="store_true",
                        help="measure on a scratch PostgreSQL database instead (built each run, dropped at the end)")
    parser.add_argument("--keep", action="store_true", help="with --postgres: keep the database to look into")
    args = parser.parse_args()
    db_path = args.db.resolve()
    if not args.postgres:
        app = bench_app(db_path)
        print(build(app, args.rebuild, db_path))
        measure(app, args.requests, args.explain)
        return
    name = create_postgres_database("bench_lists")
    try:
        app = bench_app(db_path, postgres_url(name))
        print(build_postgres(app))
        measure(app, args.requests, args.explain)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        if args.keep:
            print(f"kept {name} (drop it with: psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE \"{name}\"')")
        else:
            drop_postgres_database(name)
            print(f"dropped {name}")


if __name__ == "__main__":
    main()
