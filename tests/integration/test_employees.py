"""Employee maintenance through the real routes: access, list and search, create, edit, set password."""
import html
import re
import threading
import time
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from sqlalchemy import func

from portal.models import AuditEvent, Employee, UserSession
from portal.models.employee import employee_search_text
from portal.services import employees as employee_service
from portal.services.employees import search_employees
from tests.conftest import csrf_token, field_errors, log_in, post_form

NEW_PASSWORD = "a brand new secret phrase"
# The revision before the one that adds Employee.search_text.
SEARCH_COLUMN_DOWN_REVISION = "2176f3452222"


def employee_count(db) -> int:
    return db.session.scalar(db.select(func.count(Employee.id)))


def events(db, name: str) -> list[AuditEvent]:
    return list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.event == name)))


def listed_usernames(response) -> list[str]:
    return re.findall(r'aria-label="Edit ([^"]+)"', response.get_data(as_text=True))


def new_employee_form(**overrides) -> dict:
    data = {
        "username": "nora",
        "full_name": "Nora Newbie",
        "email": "nora@example.com",
        "mobile_phone": "",
        "status_level": "1",
        "active": "y",
        "password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
    }
    data.update(overrides)
    return data


def edit_form(employee: Employee, **overrides) -> dict:
    """What the edit page posts back unchanged; an unchecked Active box is simply absent, as in a browser."""
    data = {
        "username": employee.username,
        "full_name": employee.full_name,
        "email": employee.email or "",
        "mobile_phone": employee.mobile_phone or "",
        "status_level": str(employee.status_level),
        "active": "y" if employee.active else None,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def signed_in_as(app, make_employee):
    """A fresh client signed in as a new employee with the given status level."""

    def sign_in(status_level: int, username: str | None = None):
        employee = make_employee(status_level=status_level, **({"username": username} if username else {}))
        other = app.test_client()
        assert log_in(other, employee.username).status_code == 302
        return other

    return sign_in


# --- who may open Employee maintenance -------------------------------------------------------

def _maintenance_requests(target: Employee):
    """Every Employee maintenance request, POSTs carrying what an intruder would want saved."""
    yield "GET", "/employees/", None
    yield "GET", "/employees/new", None
    yield "POST", "/employees/new", new_employee_form(status_level="9")
    yield "GET", f"/employees/{target.id}", None
    yield "POST", f"/employees/{target.id}", edit_form(target, full_name="Owned", status_level="9")
    yield "POST", f"/employees/{target.id}/password", {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}


def assert_untouched(app, db, target: Employee):
    db.session.refresh(target)
    assert (target.full_name, target.status_level) == ("Tara Target", 1)
    assert log_in(app.test_client(), "target").status_code == 302  # password unchanged
    assert db.session.scalar(db.select(Employee).where(Employee.username == "nora")) is None


@pytest.mark.parametrize("status_level", [1, 4, 5, 8])
def test_staff_and_managers_are_refused(signed_in_as, app, make_employee, db, status_level):
    target = make_employee(username="target", full_name="Tara Target")
    other = signed_in_as(status_level)
    token = csrf_token(other, "/account/")
    for method, url, data in _maintenance_requests(target):
        response = other.open(url, method=method, data=data and {"csrf_token": token, **data})
        assert response.status_code == 403, f"{method} {url}"
    assert_untouched(app, db, target)


def test_anonymous_visitor_is_sent_to_login(client, app, make_employee, db):
    target = make_employee(username="target", full_name="Tara Target")
    token = csrf_token(client, "/login")
    for method, url, data in _maintenance_requests(target):
        response = client.open(url, method=method, data=data and {"csrf_token": token, **data})
        assert response.status_code == 302, f"{method} {url}"
        assert response.headers["Location"].startswith("/login"), f"{method} {url}"
    assert_untouched(app, db, target)


def test_administrator_sees_the_list(admin_client, make_employee):
    make_employee(username="bob", full_name="Bob Builder", email="bob@example.com", status_level=3)
    response = admin_client.get("/employees/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert listed_usernames(response) == ["admin", "bob"]
    assert "Bob Builder" in page and "bob@example.com" in page
    assert "2 employees" in page


def test_post_without_csrf_token_is_refused(admin_client, db):
    response = admin_client.post("/employees/new", data=new_employee_form())
    assert response.status_code == 400
    assert employee_count(db) == 1


# --- search -----------------------------------------------------------------------------------

@pytest.fixture
def people(make_employee):
    make_employee(username="anna", full_name="Anna Andersson", email="anna@shop.example")
    make_employee(username="Bruno.B", full_name="Bruno Bianchi", email="Bruno.Bianchi@Example.ORG")
    make_employee(username="chen", full_name="Chen Wei", email="chen@shop.example")
    make_employee(username="lukasz", full_name="Łukasz Żółć", email="lz@example.pl")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ANDERS", ["anna"]),  # part of the full name, other case
        ("bruno.b", ["Bruno.B"]),  # part of the username, other case
        ("bianchi@example.org", ["Bruno.B"]),  # email stored in mixed case
        ("SHOP.EXAMPLE", ["anna", "chen"]),
        ("Łukasz Żó", ["lukasz"]),  # beyond ASCII, typed as stored
        ("łukasz żółć", ["lukasz"]),  # beyond ASCII, lower case of a capitalised name
        ("ŻÓŁĆ", ["lukasz"]),  # beyond ASCII, upper case of a lower-case part
        ("LZ@EXAMPLE.PL", ["lukasz"]),
        ("UKAS", ["lukasz"]),  # part of the username and of the full name: listed once
        ("nobody-like-this", []),
        ("chen chen", []),  # never across the end of the username and the start of the full name
        ("wei chen", []),  # nor the full name and the email
    ],
)
def test_search_by_part_of_name_username_or_email(admin_client, people, query, expected):
    response = admin_client.get("/employees/", query_string={"q": query})
    assert response.status_code == 200
    assert listed_usernames(response) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [("%", ["pct"]), ("50%", ["pct"]), ("a_b", ["a_b"]), ("\\", ["slash"]), ("/", ["fwd"]), ("R/O", ["fwd"]),
     ("%%", []), ("_", ["a_b"])],
)
def test_like_wildcards_in_search_are_literal(admin_client, make_employee, query, expected):
    make_employee(username="pct", full_name="Half 50% Off")
    make_employee(username="a_b", full_name="Underscore Person")
    make_employee(username="axb", full_name="Lookalike Person")
    make_employee(username="slash", full_name="Back\\Slash")
    make_employee(username="fwd", full_name="Either/Or")
    response = admin_client.get("/employees/", query_string={"q": query})
    assert listed_usernames(response) == expected


def test_search_finds_the_polish_name_from_lower_case(admin_client, make_employee):
    make_employee(username="l.nowak", full_name="Łukasz Nowak", email="l.nowak@example.pl")
    make_employee(username="lukas", full_name="Lukas Novak", email="lukas@example.cz")
    assert listed_usernames(admin_client.get("/employees/", query_string={"q": "łukasz"})) == ["l.nowak"]
    assert listed_usernames(admin_client.get("/employees/", query_string={"q": "ŁUKASZ NOW"})) == ["l.nowak"]
    assert listed_usernames(admin_client.get("/employees/", query_string={"q": "  Łukasz  "})) == ["l.nowak"]


@pytest.mark.parametrize(
    ("field", "new", "old_part", "new_part"),
    [
        ("full_name", "Gertrude Neuname", "oldname", "NEUNAME"),
        ("email", "gertrude@new-employer.example", "old-employer", "NEW-EMPLOYER"),
        ("username", "gertrude.renamed", "gertrude.old", "RENAMED"),
    ],
)
def test_after_an_edit_the_new_text_is_found_and_the_old_is_not(
    admin_client, make_employee, db, field, new, old_part, new_part
):
    gertrude = make_employee(username="gertrude.old", full_name="Gertrude Oldname",
                             email="gertrude@old-employer.example")
    other = make_employee(username="other", full_name="Other Person", email="other@example.com")
    assert listed_usernames(admin_client.get("/employees/", query_string={"q": old_part})) == ["gertrude.old"]

    response = post_form(admin_client, f"/employees/{gertrude.id}", edit_form(gertrude, **{field: new}))
    assert response.status_code == 302

    username = new if field == "username" else "gertrude.old"
    assert listed_usernames(admin_client.get("/employees/", query_string={"q": new_part})) == [username]
    assert listed_usernames(admin_client.get("/employees/", query_string={"q": old_part})) == []
    assert listed_usernames(admin_client.get("/employees/", query_string={"q": "gertrude"})) == [username]
    # the other fields are still found, and the other employee is untouched
    assert listed_usernames(admin_client.get("/employees/", query_string={"q": "other"})) == ["other"]
    db.session.refresh(other)
    assert other.search_text == employee_search_text("other", "Other Person", "other@example.com")


def test_search_text_follows_every_way_of_setting_the_fields(db):
    """Whatever order the constructor or later code sets them in, search_text ends up right."""
    employee = Employee(email="Mixed@Example.COM", full_name="Zoë Ängström", username=" Zoe.A ",
                        password_hash="x")
    assert employee.username == "Zoe.A" and employee.username_key == "zoe.a"
    assert employee.search_text == "zoe.a\nzoë ängström\nmixed@example.com"
    employee.email = None
    assert employee.search_text == "zoe.a\nzoë ängström\n"
    employee.full_name = "ZOË NEW"
    employee.username = "zoe.b"
    assert employee.search_text == "zoe.b\nzoë new\n"


def test_search_combines_with_the_locked_filter(admin_client, make_employee, db):
    locked = make_employee(username="smith.locked", full_name="Sam Smith")
    make_employee(username="smith.free", full_name="Sue Smith")
    make_employee(username="jones.locked", full_name="Jo Jones")
    locked.locked_until = datetime(2999, 1, 1)
    db.session.execute(db.update(Employee).where(Employee.username_key == "jones.locked")
                       .values(mfa_locked_until=datetime(2999, 1, 1)))
    db.session.commit()
    response = admin_client.get("/employees/", query_string={"q": "SMITH", "locked": "y"})
    assert listed_usernames(response) == ["smith.locked"]
    assert "1 employee matching" in response.get_data(as_text=True)
    assert listed_usernames(admin_client.get("/employees/", query_string={"locked": "y"})) == [
        "jones.locked", "smith.locked"]


def test_search_pages_keep_username_order_and_total(admin_client, make_employee):
    # created out of username order, with the admin ("Ada Admin") matching too
    for n in reversed(range(60)):
        make_employee(username=f"ad{n:03d}", full_name=f"Paged Admirer {n}")
    first = admin_client.get("/employees/", query_string={"q": "ad"})
    assert listed_usernames(first) == [f"ad{n:03d}" for n in range(50)]
    assert "61 employees matching" in first.get_data(as_text=True)
    second = admin_client.get("/employees/", query_string={"q": "ad", "page": 2})
    assert listed_usernames(second) == [f"ad{n:03d}" for n in range(50, 60)] + ["admin"]
    assert "Page 2 of 2" in second.get_data(as_text=True)


def test_upgrade_fills_search_text_of_employees_saved_before_it(app, db):
    """The search column's migration backfills the rows already there, lower-cased as the model does."""
    downgrade(revision=SEARCH_COLUMN_DOWN_REVISION)
    try:
        old_employee = sa.table("employee", *(sa.column(c) for c in (
            "username", "username_key", "full_name", "email", "status_level", "active", "password_hash",
            "session_token", "failed_login_count", "lockout_count", "created_at", "updated_at")))
        now = datetime(2025, 1, 1)
        with db.engine.begin() as conn:
            conn.execute(old_employee.insert(), [
                {"username": username, "username_key": username.lower(), "full_name": full_name, "email": email,
                 "status_level": 1, "active": True, "password_hash": "x", "session_token": f"token-{username}",
                 "failed_login_count": 0, "lockout_count": 0, "created_at": now, "updated_at": now}
                for username, full_name, email in [("Lukasz.N", "Łukasz Nowak", "LN@Example.PL"),
                                                   ("no.mail", "No Mail", None)]])
    finally:
        upgrade()
    rows = db.session.execute(db.select(Employee.username, Employee.full_name, Employee.email,
                                        Employee.search_text).order_by(Employee.username_key)).all()
    assert [r.search_text for r in rows] == [employee_search_text(r.username, r.full_name, r.email) for r in rows]
    assert [e.username for e in search_employees("łukasz").items] == ["Lukasz.N"]
    assert [e.username for e in search_employees("NO MAIL").items] == ["no.mail"]


def test_search_results_are_escaped(admin_client, make_employee):
    make_employee(username="mallory", full_name='<script>alert("x")</script>')
    page = admin_client.get("/employees/", query_string={"q": "<script>"}).get_data(as_text=True)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert" in page


def test_over_long_search_is_not_a_server_error(admin_client):
    response = admin_client.get("/employees/", query_string={"q": "x" * 5000})
    assert response.status_code == 200


# --- pagination -------------------------------------------------------------------------------

@pytest.fixture
def many_employees(make_employee):
    """The admin plus user000..user053: 55 employees, so page 2 holds the last 5 by username."""
    for n in range(54):
        make_employee(username=f"user{n:03d}", full_name=f"Paged Person {n}")


def test_first_page_shows_fifty_and_second_page_the_rest(admin_client, many_employees):
    first = admin_client.get("/employees/")
    assert listed_usernames(first) == ["admin"] + [f"user{n:03d}" for n in range(49)]
    assert "Page 1 of 2" in first.get_data(as_text=True)
    second = admin_client.get("/employees/?page=2")
    assert listed_usernames(second) == [f"user{n:03d}" for n in range(49, 54)]
    assert "Page 2 of 2" in second.get_data(as_text=True)


def test_next_page_link_keeps_the_search(admin_client, many_employees):
    page = admin_client.get("/employees/", query_string={"q": "paged"}).get_data(as_text=True)
    links = [html.unescape(h) for h in re.findall(r'class="page-link" href="([^"#]+)"', page)]
    assert len(links) == 1
    query = parse_qs(urlsplit(links[0]).query)
    assert query == {"page": ["2"], "q": ["paged"]}
    second = admin_client.get(links[0])
    assert listed_usernames(second) == [f"user{n:03d}" for n in range(50, 54)]


@pytest.mark.parametrize("page", ["999", "99999999999999999999", "-3", "0", "two"])
def test_out_of_range_or_nonsense_page_is_not_a_server_error(admin_client, make_employee, page):
    make_employee(username="bob")
    response = admin_client.get(f"/employees/?page={page}")
    assert response.status_code == 200
    if page in ("999", "99999999999999999999"):
        assert listed_usernames(response) == []
    else:
        assert listed_usernames(response) == ["admin", "bob"]


# --- create -----------------------------------------------------------------------------------

def test_create_form_has_labelled_fields(admin_client):
    page = admin_client.get("/employees/new").get_data(as_text=True)
    for field_id, label in [("username", "Username"), ("full_name", "Full name"), ("email", "Email"),
                            ("mobile_phone", "Mobile phone"), ("status_level", "Status level"),
                            ("password", "New password"), ("confirm", "Confirm new password")]:
        assert f'for="{field_id}">{label}</label>' in page


def test_create_employee_who_can_then_sign_in(admin_client, app, db, admin):
    response = post_form(admin_client, "/employees/new",
                         new_employee_form(email="Nora@Example.COM", status_level="6"))
    employee = db.session.scalar(db.select(Employee).where(Employee.username == "nora"))
    assert response.status_code == 302 and response.headers["Location"] == f"/employees/{employee.id}"
    assert "Employee nora has been created." in admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert (employee.full_name, employee.email, employee.status_level, employee.active) == (
        "Nora Newbie", "nora@example.com", 6, True)
    [created] = events(db, "employee.created")
    assert (created.actor_id, created.subject_id) == (admin.id, employee.id)
    assert log_in(app.test_client(), "nora", NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"username": "ADMIN"}, "username", "already in use"),
        ({"username": "no spaces please"}, "username", "letters, digits"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"mobile_phone": "07700 900123"}, "mobile_phone", "international format"),
        ({"mobile_phone": "+44 12"}, "mobile_phone", "international format"),
        ({"password": "too short", "confirm": "too short"}, "password", "at least 12 characters"),
        ({"username": "longusername1", "password": "LongUserName1", "confirm": "LongUserName1"},
         "password", "cannot be the username"),
        ({"password": "password1234", "confirm": "password1234"}, "password", "too common"),
        ({"confirm": "something else entirely"}, "confirm", "do not match"),
        ({"status_level": "10"}, "status_level", "Not a valid choice"),
        ({"full_name": ""}, "full_name", "required"),
    ],
)
def test_refused_create_shows_error_beside_the_field_and_writes_nothing(admin_client, db, overrides, field, message):
    before = employee_count(db)
    response = post_form(admin_client, "/employees/new", new_employee_form(**overrides))
    assert response.status_code == 200
    assert message in field_errors(response, field)
    assert employee_count(db) == before
    assert events(db, "employee.created") == []


@pytest.mark.parametrize("field", ["username", "full_name", "email", "mobile_phone", "password"])
def test_over_long_input_is_a_field_error(admin_client, db, field):
    value = "x" * 4990 + "@example.com" if field == "email" else "x" * 5000
    data = new_employee_form(**{field: value})
    if field == "password":
        data["confirm"] = value
    response = post_form(admin_client, "/employees/new", data)
    assert response.status_code == 200
    assert field_errors(response, field)
    assert employee_count(db) == 1


def test_phone_in_international_format_is_stored_as_e164(admin_client, db):
    post_form(admin_client, "/employees/new", new_employee_form(mobile_phone="+44 7911 123456"))
    employee = db.session.scalar(db.select(Employee).where(Employee.username == "nora"))
    assert employee.mobile_phone == "+447911123456"


def test_the_example_phone_from_the_help_text_is_accepted(admin_client, db):
    """The form's own hint says "+44 7700 900123"; an administrator typing it must not be refused."""
    response = post_form(admin_client, "/employees/new", new_employee_form(mobile_phone="+44 7700 900123"))
    assert field_errors(response, "mobile_phone") == ""
    employee = db.session.scalar(db.select(Employee).where(Employee.username == "nora"))
    assert employee is not None and employee.mobile_phone == "+447700900123"


# --- edit -------------------------------------------------------------------------------------

def test_edit_page_shows_the_current_values(admin_client, make_employee):
    bob = make_employee(username="bob", full_name="Bob Builder", mobile_phone="+447911123456", status_level=3)
    page = admin_client.get(f"/employees/{bob.id}").get_data(as_text=True)
    assert 'value="Bob Builder"' in page and 'value="+447911123456"' in page
    assert '<option selected value="3">' in page


def test_edit_saves_and_audits_old_and_new_values(admin_client, make_employee, db, admin):
    bob = make_employee(username="bob", full_name="Bob Builder", status_level=1)
    response = post_form(admin_client, f"/employees/{bob.id}", edit_form(
        bob, full_name="Robert Builder", status_level="6", email="Rob@Example.com", mobile_phone="+44 7911 123456"))
    assert response.status_code == 302
    assert "Saved." in admin_client.get(response.headers["Location"]).get_data(as_text=True)
    db.session.refresh(bob)
    assert (bob.full_name, bob.status_level, bob.email, bob.mobile_phone) == (
        "Robert Builder", 6, "rob@example.com", "+447911123456")
    [changed] = events(db, "employee.changed")
    assert (changed.actor_id, changed.subject_id) == (admin.id, bob.id)
    assert changed.details == {
        "full_name": {"old": "Bob Builder", "new": "Robert Builder"},
        "status_level": {"old": 1, "new": 6},
        "email": {"old": "bob@example.com", "new": "rob@example.com"},
        "mobile_phone": {"old": None, "new": "+447911123456"},
    }


def test_saving_without_changes_writes_no_audit_row(admin_client, make_employee, db):
    bob = make_employee(username="Bob", email="bob@example.com", mobile_phone="+447911123456", status_level=7)
    response = post_form(admin_client, f"/employees/{bob.id}", edit_form(bob), follow_redirects=True)
    assert "Nothing to save" in response.get_data(as_text=True)
    assert events(db, "employee.changed") == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"username": "ADMIN"}, "username"),
        ({"email": "not-an-email"}, "email"),
        ({"mobile_phone": "07700 900123"}, "mobile_phone"),
        ({"full_name": "x" * 5000}, "full_name"),
        ({"status_level": "0"}, "status_level"),
    ],
)
def test_refused_edit_shows_field_error_and_saves_nothing(admin_client, make_employee, db, overrides, field):
    bob = make_employee(username="bob", full_name="Bob Builder")
    response = post_form(admin_client, f"/employees/{bob.id}", edit_form(bob, **overrides))
    assert response.status_code == 200
    assert field_errors(response, field)
    db.session.refresh(bob)
    assert (bob.username, bob.full_name, bob.email, bob.mobile_phone, bob.status_level) == (
        "bob", "Bob Builder", "bob@example.com", None, 1)
    assert events(db, "employee.changed") == []


def test_username_may_change_case_of_its_own(admin_client, make_employee, db):
    bob = make_employee(username="bob")
    assert post_form(admin_client, f"/employees/{bob.id}", edit_form(bob, username="Bob")).status_code == 302
    db.session.refresh(bob)
    assert bob.username == "Bob"


@pytest.mark.parametrize(
    ("overrides", "field"), [({"status_level": "8"}, "status_level"), ({"active": None}, "active")]
)
def test_last_active_administrator_cannot_be_demoted_or_deactivated(
    admin_client, make_employee, db, admin, overrides, field
):
    make_employee(username="retired", status_level=9, active=False)  # an inactive admin does not count
    response = post_form(admin_client, f"/employees/{admin.id}", edit_form(admin, **overrides))
    assert response.status_code == 200
    assert "last active administrator" in field_errors(response, field)
    db.session.refresh(admin)
    assert (admin.status_level, admin.active) == (9, True)
    assert events(db, "employee.changed") == []
    assert admin_client.get("/employees/").status_code == 200


@pytest.mark.parametrize("overrides", [{"status_level": "8"}, {"active": None}])
def test_two_administrators_taking_each_other_away_at_once_leave_one(app, make_employee, db, monkeypatch,
                                                                      overrides):
    """Ann and Bob, the only administrators, each demote (or deactivate) the other at the same moment.
    Ann's save is held just before its commit, after her check passed, until Bob's edit has reached
    the administrators' lock; Bob's edit must count Ann's change, not the state before it. (On SQLite
    the database's one write lock serialises the two without the row lock; PostgreSQL needs it.)"""
    ann = make_employee(username="ann", status_level=9)
    bob = make_employee(username="bob", status_level=9)
    requests = {}
    for actor, subject in (("ann", bob), ("bob", ann)):
        client = app.test_client()
        assert log_in(client, actor).status_code == 302
        url = f"/employees/{subject.id}"
        requests[actor] = (client, url, {"csrf_token": csrf_token(client, url), **edit_form(subject, **overrides)})
    ann_is_saving, bob_is_counting = threading.Event(), threading.Event()
    record_event = employee_service.record_event
    lock_administrators = employee_service._lock_active_administrators

    def held_for_ann(name, **kwargs):
        if threading.current_thread().name == "ann":
            ann_is_saving.set()
            assert bob_is_counting.wait(10), "Bob's edit never reached the administrators' lock"
            time.sleep(0.2)  # Bob's lock (or, on SQLite, his write) is waiting on Ann's transaction now
        return record_event(name, **kwargs)

    def marked_for_bob():
        if threading.current_thread().name == "bob":
            bob_is_counting.set()
        return lock_administrators()

    monkeypatch.setattr(employee_service, "record_event", held_for_ann)
    monkeypatch.setattr(employee_service, "_lock_active_administrators", marked_for_bob)
    statuses = {}

    def edit(actor):
        if actor == "bob":
            assert ann_is_saving.wait(10)
        client, url, data = requests[actor]
        statuses[actor] = client.post(url, data=data)

    threads = [threading.Thread(target=edit, args=(actor,), name=actor) for actor in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses["ann"].status_code == 302
    assert statuses["bob"].status_code == 200
    assert "last active administrator" in field_errors(statuses["bob"], next(iter(overrides)))
    db.session.expire_all()
    assert db.session.scalars(db.select(Employee.username).where(
        Employee.status_level == 9, Employee.active.is_(True))).all() == ["ann"]
    assert [event.subject_id for event in events(db, "employee.changed")] == [bob.id]


@pytest.mark.parametrize(
    ("overrides", "afterwards"), [({"status_level": "8"}, 403), ({"active": None}, 302)]
)
def test_administrator_can_be_demoted_or_deactivated_when_another_is_active(
    admin_client, make_employee, db, admin, overrides, afterwards
):
    make_employee(username="second", status_level=9)
    response = post_form(admin_client, f"/employees/{admin.id}", edit_form(admin, **overrides))
    assert response.status_code == 302
    db.session.refresh(admin)
    assert (admin.status_level, admin.active) == ((8, True) if afterwards == 403 else (9, False))
    # the change applies at once: this browser no longer opens Employee maintenance
    assert admin_client.get("/employees/").status_code == afterwards


def test_demoted_administrator_loses_access_on_the_next_request(admin_client, signed_in_as, db):
    second_client = signed_in_as(9, username="second")
    assert second_client.get("/employees/").status_code == 200
    second = db.session.scalar(db.select(Employee).where(Employee.username == "second"))
    post_form(admin_client, f"/employees/{second.id}", edit_form(second, status_level="5"))
    assert second_client.get("/employees/").status_code == 403


def test_reactivated_employee_can_sign_in_again(admin_client, app, make_employee, db):
    bob = make_employee(username="bob", active=False)
    assert log_in(app.test_client(), "bob").status_code == 200
    assert post_form(admin_client, f"/employees/{bob.id}", edit_form(bob, active="y")).status_code == 302
    assert log_in(app.test_client(), "bob").status_code == 302


def test_deactivating_an_employee_ends_their_sessions(admin_client, app, make_employee, db):
    bob = make_employee(username="bob")
    bob_client = app.test_client()
    log_in(bob_client, "bob")
    assert bob_client.get("/account/").status_code == 200
    assert post_form(admin_client, f"/employees/{bob.id}", edit_form(bob, active=None)).status_code == 302
    response = bob_client.get("/account/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    open_sessions = db.select(UserSession).where(UserSession.employee_id == bob.id, UserSession.ended_at.is_(None))
    assert db.session.scalars(open_sessions).all() == []
    assert log_in(app.test_client(), "bob").status_code == 200  # and cannot sign in again


# --- set a new password for an employee -------------------------------------------------------

def test_set_password_ends_sessions_and_only_the_new_password_works(admin_client, app, make_employee, db, admin):
    bob = make_employee(username="bob")
    bob_client = app.test_client()
    log_in(bob_client, "bob")
    response = post_form(admin_client, f"/employees/{bob.id}/password",
                         {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, form_url=f"/employees/{bob.id}")
    assert response.status_code == 302
    assert "sessions have been ended" in admin_client.get(response.headers["Location"]).get_data(as_text=True)
    after = bob_client.get("/account/")
    assert after.status_code == 302 and after.headers["Location"].startswith("/login")
    assert log_in(app.test_client(), "bob").status_code == 200
    assert log_in(app.test_client(), "bob", NEW_PASSWORD).status_code == 302
    [row] = events(db, "password.set_by_admin")
    assert (row.actor_id, row.subject_id) == (admin.id, bob.id)
    assert NEW_PASSWORD not in str(row.details)


def test_set_password_unlocks_a_locked_account(admin_client, app, make_employee, db):
    bob = make_employee(username="bob")
    for _ in range(10):
        log_in(app.test_client(), "bob", "not the password")
    db.session.refresh(bob)
    assert bob.locked_until is not None
    post_form(admin_client, f"/employees/{bob.id}/password",
              {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, form_url=f"/employees/{bob.id}")
    assert log_in(app.test_client(), "bob", NEW_PASSWORD).status_code == 302


def test_an_administrator_changes_their_own_password_on_the_profile_only(admin_client, admin, app, db):
    response = post_form(admin_client, f"/employees/{admin.id}/password",
                         {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, form_url=f"/employees/{admin.id}")
    assert response.headers["Location"] == "/account/"
    assert admin_client.get("/").status_code == 200  # still signed in
    assert log_in(app.test_client(), "admin", NEW_PASSWORD).status_code == 200  # unchanged
    assert events(db, "password.set_by_admin") == []


@pytest.mark.parametrize(
    ("password", "confirm", "field", "message"),
    [
        ("short one", "short one", "password", "at least 12 characters"),
        ("Bob.Builder.1", "Bob.Builder.1", "password", "cannot be the username"),
        ("qwertyuiop12", "qwertyuiop12", "password", "too common"),
        (NEW_PASSWORD, "different phrase", "confirm", "do not match"),
        ("x" * 5000, "x" * 5000, "password", "128"),
    ],
)
def test_refused_new_password_keeps_the_old_one(admin_client, app, make_employee, db,
                                                password, confirm, field, message):
    bob = make_employee(username="bob.builder.1")
    bob_client = app.test_client()
    log_in(bob_client, "bob.builder.1")
    response = post_form(admin_client, f"/employees/{bob.id}/password",
                         {"password": password, "confirm": confirm}, form_url=f"/employees/{bob.id}")
    assert response.status_code == 400
    assert message in field_errors(response, field)
    assert bob_client.get("/account/").status_code == 200  # still signed in
    assert log_in(app.test_client(), "bob.builder.1").status_code == 302
    assert events(db, "password.set_by_admin") == []


# --- unknown ids ------------------------------------------------------------------------------

@pytest.mark.parametrize("employee_id", ["999999", "99999999999999999999"])
def test_unknown_employee_is_404(admin_client, employee_id):
    token = csrf_token(admin_client, "/employees/new")
    assert admin_client.get(f"/employees/{employee_id}").status_code == 404
    data = {"csrf_token": token, **new_employee_form()}
    assert admin_client.post(f"/employees/{employee_id}", data=data).status_code == 404
    assert admin_client.post(f"/employees/{employee_id}/password", data=data).status_code == 404


def test_non_numeric_id_is_404(admin_client):
    assert admin_client.get("/employees/abc").status_code == 404
