"""Benchmark: POS Terminals and their client log at 10,000 terminals and 1,000,000 log records (DESIGN.md §7).

Builds a scratch SQLite database under bench/ through the real migrations: 10,000 POS
terminals in about 400 stores (Core inserts; name_key, key_lookup and search_text are filled
by PosTerminal's own validator on a transient object) and 1,000,000 client log records over
30 days, 900,000 of them from one busy terminal (about 5 cache session IDs a day), the rest
from the other linked terminals. An administrator signs in through the real login form
(CSRF token read from the page), and the Flask test client (server time, in-process, bodies
read in full) times:

  - GET /terminals/: page 1, page 150, search "till 12" and its page 5 (the list reads the
    (name_key, search_text) index);
  - GET /terminals/<busy>/log: the first page, level=error, one cache session ID,
    one day in the middle of the 30 (date_from = date_to), and an Older page (before=<id>)
    27 days deep;
  - the device calls POST /pos/api/status and POST /pos/api/log, from a device linked to the
    busy terminal through POST /pos/api/link (CSRF token from the /pos page's meta tag), with
    an employee signed in at the terminal; the log call sends the terminal's current cache
    session ID, in use for over two hours, so its "another cache session ID within the hour"
    check reads the whole last hour (about 1,250 records) and finds none.

The portal's clock is frozen at the end of the data, as if the log had just been written.
The bench config is production-like (no TESTING, no DEBUG, production Argon2 parameters) but
sets RATELIMIT_ENABLED = False: the device calls' limits (status 60/min, log 120/min per
address and 240/min per terminal) would otherwise refuse the timed calls. Each run unlinks the busy terminal first
(untimed) and links it again; each run adds its log calls (a few dozen rows) to the data.

It prints figures and never asserts them: the target (median under 50 ms for a page, 10 ms
for a device call) is printed next to each case, with the query plans of a case that misses it.

    .venv/bin/python bench/bench_pos.py              # reuses bench/bench_pos.db when it is complete
    .venv/bin/python bench/bench_pos.py --rebuild    # builds it again from nothing
    .venv/bin/python bench/bench_pos.py --explain    # query plans of the client log pages and the log call
"""
import argparse
import random
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import accumulate
from pathlib import Path

import sqlalchemy as sa
from _common import (
    PASSWORD,
    ROOT,
    bench_config,
    explain,
    median_p95,
    meta_csrf_token,
    reuse_or_build,
    sign_in,
    timed,
)
from flask.testing import FlaskClient

from portal import clock, create_app
from portal.extensions import db
from portal.models import PosClientLog, PosTerminal
from portal.security.device_tokens import DEVICE_TOKEN_HEADER, TERMINAL_HEADER
from portal.services.employees import EmployeeData, create_employee

TERMINALS = 10_000
LOG_ROWS = 1_000_000
BUSY_ROWS = 900_000
DAYS = 30
CACHE_SESSIONS_PER_DAY = 5
BATCH = 20_000
PAGE_TARGET_MS = 50.0
DEVICE_TARGET_MS = 10.0
ADMIN_USERNAME = "bench.admin"
NOW = datetime(2025, 6, 30, 18, 0, 0)  # the end of the data, and the frozen clock while timing
BUSY_KEY = "LON001-T01"  # the first store's first till
BUSY_ADDRESS = "10.1.1.21"
ROW_RE = re.compile(r"<tr>\s*<td")

TOWNS = ["London", "Manchester", "Birmingham", "Leeds", "Glasgow", "Liverpool", "Bristol", "Sheffield", "Edinburgh",
         "Cardiff", "Leicester", "Nottingham", "Newcastle", "Southampton", "Portsmouth", "Brighton", "Plymouth",
         "Reading", "Derby", "Coventry", "Belfast", "Aberdeen", "Dundee", "Swansea", "York", "Oxford", "Cambridge",
         "Norwich", "Exeter", "Bath", "Chester", "Durham", "Lincoln", "Preston", "Bolton", "Stockport", "Wigan",
         "Luton", "Milton Keynes", "Northampton", "Peterborough", "Ipswich", "Colchester", "Chelmsford",
         "Basildon", "Swindon", "Gloucester", "Cheltenham", "Worcester", "Hereford", "Shrewsbury", "Stoke",
         "Wolverhampton", "Walsall", "Dudley", "Telford", "Crewe", "Warrington", "Blackpool", "Carlisle"]
SITES = ["High Street", "Retail Park", "Station", "Shopping Centre", "Market Square", "Outlet Village",
         "Airport", "Riverside"]
LEVELS = ("debug", "info", "warning", "error")
LEVEL_WEIGHTS = (30, 60, 7, 3)
MESSAGES = {
    "debug": ["Heartbeat ok ({ms} ms)", "Catalogue cache hit (version {n})", "Sync queue length {n}",
              "Scanner event: {sku}"],
    "info": ["Sale completed: {n} items, total {amount}", "Payment approved (card ending {last4})",
             "Receipt printed", "Drawer opened", "Basket synced to the server", "Price lookup: SKU {sku}",
             "Refund completed: {amount}"],
    "warning": ["Printer paper low", "Slow answer from the payment service ({ms} ms)", "Retrying sync ({n}/3)",
                "Barcode not recognised: {sku}"],
    "error": ["Card reader timeout after 30 s", "Printer offline", "Payment declined: network error",
              "Sync failed: HTTP 503", "Unhandled exception in basket.js:{n}"],
}


# --- the terminals ------------------------------------------------------------------------------

def stores(rng: random.Random) -> list[tuple[str, str, int]]:
    """(code, name, terminal count) per store, the counts adding up to TERMINALS."""
    result, total, index = [], 0, 0
    while total < TERMINALS:
        index += 1
        town, site = TOWNS[(index - 1) % len(TOWNS)], SITES[(index - 1) // len(TOWNS) % len(SITES)]
        count = min(rng.randint(5, 45), TERMINALS - total)
        result.append((f"{town[:3].upper()}{index:03d}", f"{town} {site}", count))
        total += count
    return result


def terminal_names(count: int) -> list[tuple[str, str]]:
    """(name, key suffix) of one store's terminals: tills, then a kiosk and a service desk in bigger stores."""
    extras = [("Self-service kiosk 1", "K1"), ("Customer service desk", "CS")][:max(0, (count - 10) // 10)]
    tills = [(f"Till {n}", f"T{n:02d}") for n in range(1, count - len(extras) + 1)]
    return tills + extras


def terminal_rows(rng: random.Random) -> list[dict]:
    rows = []
    for code, store, count in stores(rng):
        for name, suffix in terminal_names(count):
            # The model's validator fills name_key, key_lookup and search_text: run it, on a transient object.
            keys = PosTerminal(name=name, store=store, key_identifier=f"{code}-{suffix}")
            linked = rng.random() < 0.85
            created = NOW - timedelta(days=rng.randrange(60, 1000))
            rows.append({
                "name": keys.name, "name_key": keys.name_key, "store": keys.store,
                "key_identifier": keys.key_identifier, "key_lookup": keys.key_lookup, "search_text": keys.search_text,
                "min_status_level": rng.choice([1, 1, 1, 1, 3, 5, None]), "is_linked": linked,
                "device_token_hash": secrets.token_hex(32) if linked else None,
                "linked_at": created + timedelta(days=1) if linked else None, "linked_by_id": None,
                "last_seen_at": NOW - timedelta(seconds=rng.randrange(7 * 86400)) if linked else None,
                "cache_warning": None, "created_at": created, "updated_at": created,
            })
    return rows


# --- the client log -----------------------------------------------------------------------------

def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _message(rng: random.Random, level: str) -> str:
    return rng.choice(MESSAGES[level]).format(
        ms=rng.randrange(20, 4000), n=rng.randrange(1, 40), amount=f"£{rng.randrange(100, 20000) / 100:.2f}",
        last4=f"{rng.randrange(10_000):04d}", sku=f"{rng.randrange(10**12):012d}")


class CacheSessions:
    """The busy terminal's cache session IDs: about CACHE_SESSIONS_PER_DAY a day, changing at random
    moments, the last of them over two hours before NOW (so a log call with the current ID finds no
    other in the last hour: the common case, and the one where the check reads the whole hour)."""

    def __init__(self, rng: random.Random, start: datetime):
        span = DAYS * 86400 - 2 * 3600
        changes = sorted(rng.uniform(0, span) for _ in range(DAYS * CACHE_SESSIONS_PER_DAY - 1))
        self.changes = [start + timedelta(seconds=s) for s in changes] + [datetime.max]
        self.rng = rng
        self.current = _uuid(rng)
        self.next = 0

    def at(self, moment: datetime) -> str:
        while moment >= self.changes[self.next]:
            self.current = _uuid(self.rng)
            self.next += 1
        return self.current


def log_rows(rng: random.Random, busy_id: int, others: list[int]):
    """LOG_ROWS records over DAYS days ending at NOW, ids in time order, in batches for executemany:
    BUSY_ROWS from the busy terminal, the rest from the others (a few of them much busier than most)."""
    start = NOW - timedelta(days=DAYS)
    step = timedelta(days=DAYS) / LOG_ROWS
    from_others = bytearray(LOG_ROWS)
    for i in rng.sample(range(LOG_ROWS), LOG_ROWS - BUSY_ROWS):
        from_others[i] = 1
    activity = list(accumulate(rng.paretovariate(1.5) for _ in others))
    busy_sessions = CacheSessions(rng, start)
    daily_sessions: dict[tuple[int, int], str] = {}
    batch = []
    for i in range(LOG_ROWS):
        received = start + step * i + timedelta(seconds=rng.random() * step.total_seconds())
        if from_others[i]:
            terminal = rng.choices(others, cum_weights=activity)[0]
            day = (received - start).days
            session = daily_sessions.setdefault((terminal, day), _uuid(rng))
            address = f"10.{terminal // 4096 % 256}.{terminal // 16 % 256}.{terminal % 16 + 100}"
        else:
            terminal, session, address = busy_id, busy_sessions.at(received), BUSY_ADDRESS
        level = rng.choices(LEVELS, LEVEL_WEIGHTS)[0]
        batch.append({
            "terminal_id": terminal, "received_at": received,
            "logged_at": received - timedelta(seconds=rng.uniform(0.05, 2.0)) if rng.random() < 0.95 else None,
            "level": level, "message": _message(rng, level), "cache_session_id": session,
            "client_address": address,
        })
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


# --- building the scratch database ----------------------------------------------------------------

def bench_app(db_path: Path):
    return create_app(bench_config(db_path, RATELIMIT_ENABLED=False))


def _counts() -> tuple[int, int]:
    terminals = db.session.scalar(sa.select(sa.func.count()).select_from(PosTerminal))
    log = db.session.scalar(sa.select(sa.func.count()).select_from(PosClientLog))
    return terminals, log


def _busy_id() -> int | None:
    return db.session.scalar(sa.select(PosTerminal.id).where(PosTerminal.key_lookup == BUSY_KEY.lower()))


def _complete() -> bool:
    terminals, log = _counts()  # each run's log calls add a few dozen records
    return terminals == TERMINALS and LOG_ROWS <= log < LOG_ROWS + 10_000 and _busy_id() is not None


def load() -> str:
    """The administrator (through the service), then the terminals and the log by Core inserts in batches."""
    create_employee(EmployeeData(username=ADMIN_USERNAME, full_name="Bench Administrator", status_level=9),
                    PASSWORD, actor=None)
    rng = random.Random(20250630)  # noqa: S311 - repeatable fake data, not secrets
    with db.engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA synchronous = OFF")  # a scratch file: speed over durability
        t0 = time.perf_counter()
        conn.execute(sa.insert(PosTerminal.__table__), terminal_rows(rng))
        t_terminals = time.perf_counter() - t0
        linked = list(conn.scalars(sa.select(PosTerminal.id).where(PosTerminal.is_linked.is_(True))
                                   .order_by(PosTerminal.id)))
        busy_id = conn.scalar(sa.select(PosTerminal.id).where(PosTerminal.key_lookup == BUSY_KEY.lower()))
        t0 = time.perf_counter()
        for batch in log_rows(rng, busy_id, [t for t in linked if t != busy_id]):
            conn.execute(sa.insert(PosClientLog.__table__), batch)
        t_log = time.perf_counter() - t0
    terminals, log = _counts()
    return f"{terminals:,} terminals in {t_terminals:.1f} s, {log:,} client log records in {t_log:.1f} s"


# --- the device -----------------------------------------------------------------------------------

@dataclass
class Device:
    """A browser linked to the busy terminal: its test client and the headers its script sends."""

    client: FlaskClient
    headers: dict[str, str]
    cache_session_id: str

    def post(self, path: str, body: dict):
        return self.client.post(path, json=body, headers=self.headers)


def unlink_busy_terminal(app) -> None:
    """Untimed: undo the previous run's link, so that this run links the device through the real call."""
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(sa.update(PosTerminal).where(PosTerminal.key_lookup == BUSY_KEY.lower())
                     .values(is_linked=False, device_token_hash=None, linked_at=None, linked_by_id=None))


def linked_device(app, busy_id: int) -> Device:
    """Link a new browser through POST /pos/api/link, then sign the administrator in at the terminal."""
    client = app.test_client()
    token = meta_csrf_token(client.get("/pos").get_data(as_text=True))
    headers = {"X-CSRFToken": token}
    response = client.post("/pos/api/link", json={"username": ADMIN_USERNAME, "password": PASSWORD,
                                                  "terminal_key": BUSY_KEY}, headers=headers)
    if response.status_code != 200:
        raise SystemExit(f"could not link the device: POST /pos/api/link answered {response.status_code} "
                         f"{response.get_data(as_text=True)}")
    headers |= {TERMINAL_HEADER: BUSY_KEY, DEVICE_TOKEN_HEADER: response.get_json()["device_token"]}
    with app.app_context():
        current = db.session.scalar(sa.select(PosClientLog.cache_session_id).where(
            PosClientLog.terminal_id == busy_id).order_by(PosClientLog.id.desc()).limit(1))
    device = Device(client, headers, current)
    response = device.post("/pos/api/login", {"username": ADMIN_USERNAME, "password": PASSWORD})
    if response.status_code != 200:
        raise SystemExit(f"could not sign in at the terminal: POST /pos/api/login answered {response.status_code}")
    return device


def device_calls(device: Device) -> list[tuple[str, Callable, int]]:
    """(label, send, expected status) of the two device calls."""
    log_body = {"level": "info", "message": "Sale completed: 3 items, total £12.40",
                "cache_session_id": device.cache_session_id}
    return [
        ("POST /pos/api/status", lambda: device.post("/pos/api/status", {}), 200),
        ("POST /pos/api/log (info, current cache session)", lambda: device.post("/pos/api/log", log_body), 201),
    ]


# --- the pages ------------------------------------------------------------------------------------

def page_cases(app, busy_id: int) -> list[tuple[str, str, int]]:
    """(label, URL, how many rows match) of every page; the filters are picked from the data."""
    with app.app_context():
        def count(*conditions) -> int:
            return db.session.scalar(sa.select(sa.func.count()).select_from(PosClientLog).where(
                PosClientLog.terminal_id == busy_id, *conditions))

        def first_id_after(moment: datetime) -> int:
            return db.session.scalar(sa.select(PosClientLog.id).where(
                PosClientLog.terminal_id == busy_id, PosClientLog.received_at >= moment)
                .order_by(PosClientLog.received_at).limit(1))

        terminals = db.session.scalar(sa.select(sa.func.count()).select_from(PosTerminal))
        till_12 = db.session.scalar(sa.select(sa.func.count()).select_from(PosTerminal).where(
            PosTerminal.search_text.contains("till 12")))
        day = (NOW - timedelta(days=DAYS // 2)).date()
        day_start = datetime.combine(day, datetime.min.time())
        session = db.session.scalar(sa.select(PosClientLog.cache_session_id).where(
            PosClientLog.id == first_id_after(day_start + timedelta(hours=12))))
        deep = first_id_after(NOW - timedelta(days=DAYS - 3))
        log = f"/terminals/{busy_id}/log"
        return [
            ("Terminals: list page 1", "/terminals/", terminals),
            ("Terminals: list page 150", "/terminals/?page=150", terminals),
            ('Terminals: search "till 12"', "/terminals/?q=till+12", till_12),
            ('Terminals: search "till 12" page 5', "/terminals/?q=till+12&page=5", till_12),
            ("Client log: busy terminal, first page", log, count()),
            ("Client log: level=error", f"{log}?level=error", count(PosClientLog.level == "error")),
            ("Client log: one cache session ID", f"{log}?cache_session_id={session}",
             count(PosClientLog.cache_session_id == session)),
            (f"Client log: one day, {day}", f"{log}?date_from={day}&date_to={day}",
             count(PosClientLog.received_at >= day_start, PosClientLog.received_at < day_start + timedelta(days=1))),
            (f"Client log: Older page, before={deep} (27 days back)", f"{log}?before={deep}",
             count(PosClientLog.id < deep)),
        ]


# --- measuring --------------------------------------------------------------------------------------

def print_row(label: str, timings: list[float], target_ms: float, shown: str = "", matching: str = "") -> bool:
    """One line of the table; True when the median misses the target."""
    median, p95 = median_p95(timings)
    verdict = "ok" if median < target_ms else "MISSES TARGET"
    print(f"{label:<54} {median:9.1f} {p95:8.1f} {f'< {target_ms:g} ms':>9} {shown:>10} {matching:>10}  {verdict}")
    return median >= target_ms


@dataclass
class Plan:
    """A request whose statements to print with their query plans (see _common.explain)."""

    label: str
    send: Callable
    top: int = 3
    min_ms: float = 2.0
    table: str | None = None


def log_plan(label: str, send: Callable) -> Plan:
    """--explain: every statement of the request that reads the client log, however fast."""
    return Plan(label, send, top=5, min_ms=0.0, table=PosClientLog.__tablename__)


def time_pages(admin, pages: list[tuple[str, str, int]], n: int, show_plans: bool) -> list[Plan]:
    plans = []
    for label, url, matching in pages:
        def send(url=url):
            return admin.get(url)

        for _ in range(2):
            body = send().get_data(as_text=True)
        slow = print_row(label, [timed(send) for _ in range(n)], PAGE_TARGET_MS,
                         f"{len(ROW_RE.findall(body)):,}", f"{matching:,}")
        if slow:
            plans.append(Plan(f"{label}: GET {url}", send))
        elif show_plans and "/log" in url:
            plans.append(log_plan(f"{label}: GET {url}", send))
    return plans


def time_device_calls(device: Device, n: int, show_plans: bool) -> list[Plan]:
    plans = []
    for label, send, expect in device_calls(device):
        for _ in range(2):
            timed(send, expect)
        slow = print_row(label, [timed(send, expect) for _ in range(n)], DEVICE_TARGET_MS)
        if slow:
            plans.append(Plan(label, send, min_ms=1.0))
        elif show_plans and "/log" in label:
            plans.append(log_plan(label, send))
    return plans


def measure(app, n: int, show_plans: bool) -> None:
    with app.app_context():
        busy_id = _busy_id()
    admin = app.test_client()
    sign_in(admin, ADMIN_USERNAME)
    unlink_busy_terminal(app)
    device = linked_device(app, busy_id)
    pages = page_cases(app, busy_id)
    print(f"\n{n} timed requests per case after 2 warm-up requests; server time in-process (Flask test client),"
          f" body read in full; clock frozen at {NOW}.\n")
    header = f"{'case':<54} {'median ms':>9} {'p95 ms':>8} {'target':>9} {'rows shown':>10} {'matching':>10}"
    print(header)
    print("-" * len(header))
    plans = time_pages(admin, pages, n, show_plans) + time_device_calls(device, n, show_plans)
    for plan in plans:
        print(f"\n  {plan.label}  (slowest statements, with their query plans)")
        explain(app, plan.send, top=plan.top, min_ms=plan.min_ms, table=plan.table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="build the scratch database again from nothing")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per case (default 30)")
    parser.add_argument("--explain", action="store_true",
                        help="print query plans of the client log pages and the log call, not only slow cases")
    parser.add_argument("--db", type=Path, default=ROOT / "bench" / "bench_pos.db", help="scratch SQLite file")
    args = parser.parse_args()
    db_path = args.db.resolve()
    app = bench_app(db_path)
    clock.freeze(NOW)
    try:
        print(reuse_or_build(app, db_path, args.rebuild, _complete, load))
        measure(app, args.requests, args.explain)
    finally:
        clock.unfreeze()
        with app.app_context():
            db.engine.dispose()


if __name__ == "__main__":
    main()
