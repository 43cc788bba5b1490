"""POS Terminals › Client log: the records a terminal's device sent, filters, keyset pages, and the
warning when two cache session IDs were active for one terminal within an hour."""
import html
import re
from datetime import datetime, timedelta

import pytest

from portal.models import PosTerminal
from portal.services.pos_devices import record_client_log
from tests.conftest import log_in
from tests.integration.test_terminals import text

CACHE_A = "0c6f7a38-4d0e-4bd8-9d43-7d2b8a6f1a11"
CACHE_B = "5b1e2c44-8f3a-4c1d-a2b9-0e7d6c5f4a22"
WARNING = "were active for this terminal within one hour"


def rows(response) -> list[list[str]]:
    """The log table's rows, each a list of its cells' text."""
    body = response.get_data(as_text=True).split("<tbody>")[1].split("</tbody>")[0]
    return [[" ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split())
             for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def messages(response) -> list[str]:
    return [row[3] for row in rows(response) if len(row) == 6]


def page_link(response, label: str) -> str | None:
    match = re.search(rf'<a class="page-link" href="([^"#]+)">{label}</a>', response.get_data(as_text=True))
    return html.unescape(match.group(1)) if match else None


def make_terminal(db, key="SHOP1-TILL1") -> PosTerminal:
    terminal = PosTerminal(name=f"Till {key}", store="Main street", key_identifier=key, min_status_level=1)
    db.session.add(terminal)
    db.session.commit()
    return terminal


def log(terminal, message, level="info", cache_session_id=CACHE_A, logged_at=None, address="10.0.0.7"):
    record_client_log(terminal, level, message, cache_session_id, logged_at, address)


@pytest.fixture
def terminal(db):
    return make_terminal(db)


@pytest.fixture
def manager_client(client, make_employee):
    make_employee(username="mona", status_level=5)
    assert log_in(client, "mona").status_code == 302
    return client


def test_records_are_listed_newest_first_with_every_column(manager_client, db, terminal, frozen_clock):
    frozen_clock.freeze(datetime(2026, 3, 2, 9, 15, 0))
    log(terminal, "cash drawer opened", logged_at=datetime(2026, 3, 2, 9, 14, 58))
    frozen_clock.advance(timedelta(seconds=30))
    log(terminal, "printer <offline>", level="error", address="10.0.0.8")
    other = make_terminal(db, "SHOP2-TILL1")
    log(other, "another terminal's record")
    response = manager_client.get(f"/terminals/{terminal.id}/log")
    assert rows(response) == [
        ["2026-03-02 09:15:30", "", "error", "printer <offline>", CACHE_A, "10.0.0.8"],
        ["2026-03-02 09:15:00", "2026-03-02 09:14:58", "info", "cash drawer opened", CACHE_A, "10.0.0.7"],
    ]
    assert "printer &lt;offline&gt;" in response.get_data(as_text=True)
    assert page_link(response, "Newer") is None and page_link(response, "Older") is None


def test_the_edit_page_links_to_the_log(manager_client, terminal):
    page = manager_client.get(f"/terminals/{terminal.id}").get_data(as_text=True)
    assert f'href="/terminals/{terminal.id}/log"' in page


def test_filter_by_level_and_by_cache_session_id(manager_client, terminal):
    log(terminal, "one", level="info")
    log(terminal, "two", level="error", cache_session_id=CACHE_B)
    log(terminal, "three", level="error")
    url = f"/terminals/{terminal.id}/log"
    assert messages(manager_client.get(url, query_string={"level": "error"})) == ["three", "two"]
    assert messages(manager_client.get(url, query_string={"cache_session_id": CACHE_B})) == ["two"]
    assert messages(manager_client.get(url, query_string={"cache_session_id": CACHE_A, "level": "error"})) == [
        "three"]
    assert "No record matches." in text(manager_client.get(url, query_string={"cache_session_id": "unknown-id"}))


def test_filter_by_date(manager_client, terminal, frozen_clock):
    for day in (1, 2, 3):
        frozen_clock.freeze(datetime(2026, 3, day, 23, 59, 59))
        log(terminal, f"late on day {day}")
        frozen_clock.freeze(datetime(2026, 3, day + 1, 0, 0, 0))
        log(terminal, f"early on day {day + 1}")
    url = f"/terminals/{terminal.id}/log"
    assert messages(manager_client.get(url, query_string={"date_from": "2026-03-03"})) == [
        "early on day 4", "late on day 3", "early on day 3"]
    assert messages(manager_client.get(url, query_string={"date_to": "2026-03-02"})) == [
        "late on day 2", "early on day 2", "late on day 1"]
    assert messages(manager_client.get(url, query_string={"date_from": "2026-03-02", "date_to": "2026-03-02"})) == [
        "late on day 2", "early on day 2"]
    assert messages(manager_client.get(url, query_string={"date_from": "2026-03-05"})) == []


def test_an_invalid_filter_shows_its_error_and_no_records(manager_client, terminal):
    log(terminal, "one")
    response = manager_client.get(f"/terminals/{terminal.id}/log",
                                  query_string={"date_from": "2026-03-05", "date_to": "2026-03-01"})
    assert "The end date is before the start date." in text(response)
    assert messages(response) == [] and "Correct the filter to see records." in text(response)


def test_pages_of_fifty_go_older_and_newer_and_keep_the_filter(manager_client, terminal):
    for n in range(120):
        log(terminal, f"record {n:03}", level="warning" if n % 2 else "info")
    log(terminal, "an error in between", level="error")
    first = manager_client.get(f"/terminals/{terminal.id}/log?level=info")
    assert messages(first) == [f"record {n:03}" for n in range(118, 18, -2)]
    assert page_link(first, "Newer") is None
    second = manager_client.get(page_link(first, "Older"))
    assert "level=info" in page_link(first, "Older")
    assert messages(second) == [f"record {n:03}" for n in range(18, -1, -2)]
    assert page_link(second, "Older") is None
    back = manager_client.get(page_link(second, "Newer"))
    assert messages(back) == messages(first)
    assert page_link(back, "Newer") is None


def test_two_cache_session_ids_within_an_hour_show_a_warning(manager_client, terminal, frozen_clock):
    frozen_clock.freeze(datetime(2026, 3, 2, 9, 0, 0))
    log(terminal, "first device", cache_session_id=CACHE_A)
    frozen_clock.advance(timedelta(minutes=40))
    log(terminal, "second device", cache_session_id=CACHE_B)
    expected = (f"Two different cache session IDs ({CACHE_A}, {CACHE_B}) were active for this terminal within one "
                "hour, last at 2026-03-02 09:40 UTC: the same terminal may be in use from two places, "
                "or its browser cache was cleared.")
    for url in (f"/terminals/{terminal.id}", f"/terminals/{terminal.id}/log"):
        response = manager_client.get(url)
        assert expected in text(response), url
        assert f'href="/terminals/{terminal.id}/log?cache_session_id={CACHE_B}"' in response.get_data(as_text=True)
    frozen_clock.advance(timedelta(hours=24))
    assert WARNING not in text(manager_client.get(f"/terminals/{terminal.id}"))


def test_one_cache_session_id_or_ids_hours_apart_show_no_warning(manager_client, terminal, frozen_clock):
    for _ in range(3):
        log(terminal, "same device", cache_session_id=CACHE_A)
        frozen_clock.advance(timedelta(minutes=20))
    assert WARNING not in text(manager_client.get(f"/terminals/{terminal.id}/log"))
    frozen_clock.advance(timedelta(hours=2))
    log(terminal, "cache cleared long after", cache_session_id=CACHE_B)
    assert WARNING not in text(manager_client.get(f"/terminals/{terminal.id}/log"))
    assert WARNING not in text(manager_client.get(f"/terminals/{terminal.id}"))


def test_purge_pos_log_deletes_only_records_older_than_the_days_kept(app, db, frozen_clock):
    from datetime import timedelta

    from portal.models import PosClientLog, PosTerminal

    terminal = PosTerminal(name="Till 1", key_identifier="TILL-0001")
    db.session.add(terminal)
    db.session.commit()
    now = frozen_clock.utcnow()
    for age in (91, 90, 89, 1):
        db.session.add(PosClientLog(terminal_id=terminal.id, received_at=now - timedelta(days=age, seconds=1),
                                    level="info", message=f"{age} days", cache_session_id="cache-session-1"))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["purge-pos-log", "--days", "90"])
    assert result.exit_code == 0 and "Deleted 2 POS client log record(s)" in result.output
    kept = sorted(db.session.scalars(db.select(PosClientLog.message)).all())
    assert kept == ["1 days", "89 days"]
    assert app.test_cli_runner().invoke(args=["purge-pos-log", "--days", "0"]).exit_code != 0
