"""Benchmark: what the session guard costs an authenticated request (issue 4, DESIGN.md §7).

Builds two instances of the real app (production-like config: no TESTING, no DEBUG)
on one scratch SQLite file brought to head by the real migrations, with Sys Config
"session.timeout_applies" = "always" so the inactivity timeout is part of every
check. The second instance is identical except that `guard_request` is taken out of
its before_request hooks; Flask-Login still loads the employee in both. One employee
signs in through the real login form (CSRF token read from the page) once per client.
Then, with the Flask test client (server time, in-process, bodies read), it times

  (a) GET <page> with the guard,
  (b) GET <page> with the guard bypassed (the second app),
  (c) GET /session/status, the popup's status call (guard on, not activity),
  (d) GET <page> with the guard when the once-a-minute activity write is due
      (the session's last activity is moved two minutes back, untimed, before each run),

interleaved request by request so that a slow moment of the machine weighs on each
alike. The guard's cost is the median of the per-pair differences (a) - (b); as a
cross-check `guard_request` is also timed directly around the hook, in a third
instance of the app whose hook is wrapped in a timer, interleaved with the others
(the employee loaded first, as the view would load it anyway). The portal's clock is frozen, so
(a) never crosses the one-minute write interval by chance. SQL statements per
request are counted in a separate, untimed pass (SQLAlchemy "before_cursor_execute").

It prints figures and never asserts them. The target, "the guard costs < 1 ms per
request", is printed next to the cost; when it is missed (or with --profile) the
guard is profiled with cProfile and the time is shown by callee.

    .venv/bin/python bench/bench_session.py                    # 300 pairs after 30 warm-up pairs
    .venv/bin/python bench/bench_session.py --url /account/ --profile
"""
import argparse
import cProfile
import pstats
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from _common import PASSWORD, ROOT, bench_config, migrate_to_head, p95, sign_in
from flask_login import current_user

from portal import clock, create_app, settings
from portal.extensions import db
from portal.models import UserSession
from portal.security.session_guard import SESSION_ID_KEY, guard_request
from portal.services.employees import EmployeeData, create_employee

USERNAME = "bench.clerk"
TARGET_MS = 1.0
STATUS_URL = "/session/status"
CASES = ("a", "b", "c", "d")


# --- the two apps and the signed-in clients ----------------------------------------------------

def bypass_guard(app) -> None:
    """Take guard_request, and nothing else, out of the app's before_request hooks."""
    hooks = app.before_request_funcs.get(None, [])
    if guard_request not in hooks:
        raise SystemExit("guard_request is not a before_request hook of the app")
    hooks.remove(guard_request)


def prepare(guarded) -> None:
    """Schema at head, the inactivity timeout applying always, one employee."""
    migrate_to_head(guarded)
    with guarded.app_context():
        settings.save({"session.timeout_applies": "always"}, audit=False)
        create_employee(EmployeeData(username=USERNAME, full_name="Bench Clerk", status_level=1), PASSWORD,
                        actor=None)
        db.session.remove()


def signed_in_client(app):
    """A new browser signed in through the real login form; returns (client, its session id)."""
    client = app.test_client()
    sign_in(client, USERNAME)
    with client.session_transaction() as cookie:
        sid = cookie.get(SESSION_ID_KEY)
    if not sid:
        raise SystemExit("the sign-in left no session id in the cookie")
    return client, sid


def timed_get(client, url: str, expect_json: bool = False) -> float:
    t0 = time.perf_counter()
    response = client.get(url)
    response.get_data()
    elapsed = (time.perf_counter() - t0) * 1000
    response.close()
    if response.status_code != 200 or (expect_json and not response.is_json):
        raise SystemExit(f"GET {url} answered {response.status_code} {response.content_type}")
    return elapsed


def make_write_due(app, sid: str) -> None:
    """Untimed: move the session's last activity two minutes back, so the next request writes it."""
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(sa.update(UserSession).where(UserSession.id == sid)
                         .values(last_seen_at=clock.utcnow() - timedelta(minutes=2)))


def last_seen(app, sid: str):
    with app.app_context():
        with db.engine.connect() as conn:
            return conn.scalar(sa.select(UserSession.last_seen_at).where(UserSession.id == sid))


# --- measuring --------------------------------------------------------------------------------------

def timed_guard_hook(timings: list[float]):
    """guard_request timed around the call; the employee loaded first, as the view would load it anyway."""

    def timed_guard():
        _ = current_user.is_authenticated  # Flask-Login loads the employee here, outside the timing
        t0 = time.perf_counter()
        result = guard_request()
        timings.append((time.perf_counter() - t0) * 1000)
        return result

    return timed_guard


def measure(guarded, bypassed, timed, url: str, runs: int, warmup: int) -> dict[str, list[float]]:
    """The four cases and the directly timed guard ("guard"), interleaved request by request."""
    client_a, _ = signed_in_client(guarded)
    client_b, _ = signed_in_client(bypassed)
    client_d, sid_d = signed_in_client(guarded)
    client_t, _ = signed_in_client(timed)
    guard_timings: list[float] = []
    hooks = timed.before_request_funcs[None]
    hooks[hooks.index(guard_request)] = timed_guard_hook(guard_timings)

    def guard_alone() -> float:
        timed_get(client_t, url)
        return guard_timings[-1]

    steps = {
        "a": lambda: timed_get(client_a, url),
        "b": lambda: timed_get(client_b, url),
        "c": lambda: timed_get(client_a, STATUS_URL, expect_json=True),
        "d": lambda: timed_get(client_d, url),
        "guard": guard_alone,
    }
    figures: dict[str, list[float]] = {name: [] for name in steps}
    for i in range(warmup + runs):
        make_write_due(guarded, sid_d)
        # Alternate the order of (a) and (b) so that neither always runs first.
        order = ("a", "b", "c", "d", "guard") if i % 2 == 0 else ("b", "a", "guard", "c", "d")
        for name in order:
            figure = steps[name]()
            if i >= warmup:
                figures[name].append(figure)
    if last_seen(guarded, sid_d) != clock.utcnow():
        raise SystemExit("case (d) did not write the activity: the bench no longer measures the write")
    return figures


def statements(guarded, bypassed, url: str) -> tuple[dict[str, list[str]], list[str]]:
    """SQL statements of one request per case (after one untimed request each), and those inside the guard."""
    client_a, _ = signed_in_client(guarded)
    client_b, _ = signed_in_client(bypassed)
    client_d, sid_d = signed_in_client(guarded)
    plan = {"a": (guarded, client_a, url), "b": (bypassed, client_b, url),
            "c": (guarded, client_a, STATUS_URL), "d": (guarded, client_d, url)}
    for _app, client, case_url in plan.values():
        client.get(case_url).get_data()
    found: dict[str, list[str]] = {}
    inside_guard: list[str] = []
    in_guard = [False]
    hooks = guarded.before_request_funcs[None]
    index = hooks.index(guard_request)

    def marked_guard():
        _ = current_user.is_authenticated  # the employee's load is not the guard's
        in_guard[0] = True
        try:
            return guard_request()
        finally:
            in_guard[0] = False

    for name, (app, client, case_url) in plan.items():
        log: list[str] = []

        def count(conn, cursor, statement, parameters, context, executemany, log=log, name=name):
            text = " ".join(statement.split())
            log.append(text)
            if in_guard[0] and name == "a":
                inside_guard.append(text)

        with app.app_context():
            engine = db.engine
        if name == "d":
            make_write_due(guarded, sid_d)
        hooks[index] = marked_guard
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            client.get(case_url).get_data()
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
            hooks[index] = guard_request
        found[name] = log
    return found, inside_guard


# --- figures ------------------------------------------------------------------------------------------

def report(url: str, figures: dict[str, list[float]], sql: dict[str, list[str]],
           guard_sql: list[str], runs: int, warmup: int) -> float:
    labels = {
        "a": f"(a) GET {url} with the session guard",
        "b": f"(b) GET {url} with the guard bypassed",
        "c": f"(c) GET {STATUS_URL} (guard on, not activity)",
        "d": f"(d) GET {url}, guard + activity write due",
    }
    print("SQLite scratch file; production-like config; Sys Config session.timeout_applies = always;")
    print(f"{runs} requests per case after {warmup} warm-up requests, interleaved request by request; "
          "server time in-process (Flask test client), bodies read in full.\n")
    header = f"{'case':<52} {'median ms':>9} {'p95 ms':>8} {'SQL/request':>12}"
    print(header)
    print("-" * len(header))
    for name in CASES:
        values = figures[name]
        print(f"{labels[name]:<52} {statistics.median(values):9.3f} {p95(values):8.3f} {len(sql[name]):>12}")
    pairs = [a - b for a, b in zip(figures["a"], figures["b"], strict=True)]
    cost = statistics.median(pairs)
    medians_gap = statistics.median(figures["a"]) - statistics.median(figures["b"])
    write_cost = statistics.median(d - a for d, a in zip(figures["d"], figures["a"], strict=True))
    verdict = "ok" if cost < TARGET_MS else "MISSES TARGET"
    print(f"\nGuard cost = median of per-pair differences (a) - (b): {cost:.3f} ms   "
          f"target < {TARGET_MS:g} ms  ->  {verdict}")
    print(f"  difference of the medians (a) - (b):                {medians_gap:.3f} ms")
    direct = figures["guard"]
    print(f"  guard_request timed directly (median / p95):        {statistics.median(direct):.3f} ms / "
          f"{p95(direct):.3f} ms")
    print(f"  SQL statements the guard adds:                      {len(sql['a']) - len(sql['b'])} "
          f"({len(guard_sql)} run inside guard_request)")
    print(f"  the once-a-minute activity write, (d) - (a):        {write_cost:.3f} ms "
          f"(one request per session per minute at most)")
    print("\nStatements inside guard_request, request (a):")
    for text in guard_sql:
        print(f"  {text[:150]}")
    print(f"All statements of (c) {STATUS_URL}:")
    for text in sql["c"]:
        print(f"  {text[:150]}")
    extra_d = [text for text in sql["d"] if text not in sql["a"]]
    if extra_d:
        print("Statements (d) adds for the activity write:")
        for text in extra_d:
            print(f"  {text[:150]}")
    return cost


# --- where the time goes ------------------------------------------------------------------------------

def _label(key: tuple) -> str:
    filename, line, function = key
    if filename == "~":
        return function
    path = Path(filename)
    if path.is_relative_to(ROOT):
        return f"{path.relative_to(ROOT)}:{line}({function})"
    parts = path.parts
    if "site-packages" in parts:
        return f"{'/'.join(parts[parts.index('site-packages') + 1:])}:{line}({function})"
    return f"{path.name}:{line}({function})"


def profile(app, url: str, runs: int = 300) -> None:
    """cProfile guard_request alone (the employee loaded first); print its time per request by callee."""
    client, _ = signed_in_client(app)
    hooks = app.before_request_funcs[None]
    index = hooks.index(guard_request)
    profiler = cProfile.Profile()
    active = [False]

    def profiled_guard():
        _ = current_user.is_authenticated  # the employee's load is not the guard's
        if not active[0]:
            return guard_request()
        profiler.enable()
        try:
            return guard_request()
        finally:
            profiler.disable()

    hooks[index] = profiled_guard
    try:
        for _ in range(20):
            timed_get(client, url)
        active[0] = True
        for _ in range(runs):
            timed_get(client, url)
    finally:
        hooks[index] = guard_request
    stats = pstats.Stats(profiler).stats
    code = guard_request.__code__
    root = (code.co_filename, code.co_firstlineno, code.co_name)
    if root not in stats:
        print("\n(guard_request did not appear in the profile)")
        return
    callees: dict[tuple, list[tuple[tuple, float, float]]] = {}
    for func, (_cc, _nc, _tt, _ct, callers) in stats.items():
        for caller, (_ccc, ncalls, _ctt, ccum) in callers.items():
            callees.setdefault(caller, []).append((func, ccum, ncalls))
    total = stats[root][3] * 1000 / runs
    own = stats[root][2] * 1000 / runs
    print(f"\nWhere the guard's time goes: cProfile of guard_request alone over {runs} requests of (a), "
          "ms per request with callees\n(profiling inflates pure-Python code: compare the parts with each other, "
          "not with the table above):\n")
    print(f"  {total:7.3f}  guard_request (own {own:.3f})")

    def walk(func: tuple, depth: int) -> None:
        for child, cum, ncalls in sorted(callees.get(func, []), key=lambda item: -item[1]):
            ms = cum * 1000 / runs
            if ms < 0.01:
                continue
            print(f"  {ms:7.3f}  {'  ' * depth}{_label(child)}  x{ncalls / runs:g}")
            if depth < 4:
                walk(child, depth + 1)

    walk(root, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="/", help="the authenticated page to request (default /)")
    parser.add_argument("--runs", type=int, default=300, help="timed requests per case (default 300)")
    parser.add_argument("--warmup", type=int, default=30, help="untimed requests per case first (default 30)")
    parser.add_argument("--profile", action="store_true", help="profile the guard even when it meets the target")
    args = parser.parse_args()
    clock.freeze()
    with tempfile.TemporaryDirectory(prefix="portal-bench-session-") as scratch:
        config = bench_config(Path(scratch) / "session.db")  # production-like; the same keys for every app
        # Three instances of one app on one file: as is, guard bypassed, guard timed around its call.
        guarded, bypassed, timed = create_app(config), create_app(config), create_app(config)
        bypass_guard(bypassed)
        try:
            prepare(guarded)
            figures = measure(guarded, bypassed, timed, args.url, args.runs, args.warmup)
            sql, guard_sql = statements(guarded, bypassed, args.url)
            cost = report(args.url, figures, sql, guard_sql, args.runs, args.warmup)
            if args.profile or cost >= TARGET_MS:
                profile(guarded, args.url)
        finally:
            clock.unfreeze()
            for app in (guarded, bypassed, timed):
                with app.app_context():
                    db.engine.dispose()


if __name__ == "__main__":
    main()
