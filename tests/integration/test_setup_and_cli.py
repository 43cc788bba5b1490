"""The first administrator: the one-time setup link, and the flask commands create-admin, setup-link, demo."""
import html
import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func

from portal.models import AuditEvent, Employee
from portal.services.setup import issue_setup_token
from tests.conftest import csrf_token, field_errors, log_in, post_form

PASSWORD = "a long and private phrase"
DEMO_LINE = re.compile(r"^\s+(\S+)\s+status (\d)\s+password (\S+)\s*$", re.M)


def employees(db) -> list[Employee]:
    return list(db.session.scalars(db.select(Employee).order_by(Employee.id)))


def setup_form(**overrides) -> dict:
    data = {"username": "ada", "full_name": "Ada Admin", "email": "ada@example.com",
            "password": PASSWORD, "confirm": PASSWORD}
    data.update(overrides)
    return data


def flask(app, *args, input=None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


def assert_clean_refusal(result, reason: str):
    """A non-zero exit with the reason in words, not a traceback."""
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), result.exception
    assert reason in result.output


# --- the setup link ---------------------------------------------------------------------------

def test_setup_token_is_issued_only_on_an_empty_database(db, make_employee):
    assert issue_setup_token()
    make_employee()
    assert issue_setup_token() is None


def test_setup_page_needs_the_right_token(client, db):
    assert client.get("/setup/anything").status_code == 404  # no token issued yet
    token = issue_setup_token()
    assert client.get("/setup/" + "x" * len(token)).status_code == 404
    assert client.get(f"/setup/{token[:-1]}").status_code == 404
    response = client.get(f"/setup/{token}")
    assert response.status_code == 200
    assert "Create the first administrator" in response.get_data(as_text=True)


def test_wrong_token_cannot_create_an_administrator(client, db):
    issue_setup_token()
    token = csrf_token(client, "/login")
    response = client.post("/setup/guessed-token", data={"csrf_token": token, **setup_form()})
    assert response.status_code == 404
    assert employees(db) == []


def test_setup_creates_an_administrator_and_the_link_then_stops_working(client, app, db):
    token = issue_setup_token()
    response = post_form(client, f"/setup/{token}", setup_form())
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    [admin] = employees(db)
    assert (admin.username, admin.full_name, admin.status_level, admin.active) == ("ada", "Ada Admin", 9, True)

    assert client.get(f"/setup/{token}").status_code == 404
    again = client.post(f"/setup/{token}", data={"csrf_token": csrf_token(client, "/login"),
                                                 **setup_form(username="eve")})
    assert again.status_code == 404
    assert len(employees(db)) == 1

    admin_browser = app.test_client()
    assert log_in(admin_browser, "ada", PASSWORD).status_code == 302
    assert admin_browser.get("/employees/").status_code == 200


def test_setup_is_audited_and_two_forms_sent_with_one_link_make_one_administrator(app, db):
    token = issue_setup_token()
    first, second = app.test_client(), app.test_client()
    first_token, second_token = csrf_token(first, f"/setup/{token}"), csrf_token(second, f"/setup/{token}")
    assert first.post(f"/setup/{token}", data={"csrf_token": first_token, **setup_form()}).status_code == 302
    late = second.post(f"/setup/{token}", data={"csrf_token": second_token, **setup_form(username="eve")})
    assert late.status_code == 404
    assert [e.username for e in employees(db)] == ["ada"]
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.event == "setup.completed"))
    assert event is not None and event.subject_id == employees(db)[0].id


def test_first_administrator_can_be_saved_unchanged_in_employee_maintenance(client, db):
    """What the setup page stores must read back the same through Employee maintenance (no phantom change)."""
    post_form(client, f"/setup/{issue_setup_token()}", setup_form(email="Ada@Example.COM"))
    [admin] = employees(db)
    log_in(client, "ada", PASSWORD)
    page = client.get(f"/employees/{admin.id}").get_data(as_text=True)
    inputs = re.findall(r'<input[^>]* name="(\w+)"[^>]* value="([^"]*)"', page)
    shown = {name: html.unescape(value) for name, value in inputs}
    form = {name: shown[name] for name in ("username", "full_name", "email")}
    form.update({"mobile_phone": "", "status_level": "9", "active": "y"})
    response = post_form(client, f"/employees/{admin.id}", form, follow_redirects=True)
    assert "Nothing to save" in response.get_data(as_text=True)
    assert not db.session.scalars(db.select(AuditEvent).where(AuditEvent.event == "employee.changed")).all()


def test_a_new_token_invalidates_the_previous_one(client, db):
    first = issue_setup_token()
    second = issue_setup_token()
    assert first != second
    assert client.get(f"/setup/{first}").status_code == 404
    assert client.get(f"/setup/{second}").status_code == 200


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"password": "too short", "confirm": "too short"}, "password", "at least 12 characters"),
        ({"username": "administrator", "password": "Administrator", "confirm": "Administrator"},
         "password", "cannot be the username"),
        ({"password": "backoffice2026", "confirm": "backoffice2026"}, "password", "too common"),
        ({"confirm": "not the same phrase"}, "confirm", "do not match"),
        ({"email": "not-an-email"}, "email", "email"),
        ({"full_name": "x" * 5000}, "full_name", "120"),
        ({"username": "Ada Lovelace"}, "username", "letters, digits"),
    ],
)
def test_refused_setup_form_creates_nothing_and_keeps_the_link(client, db, overrides, field, message):
    token = issue_setup_token()
    response = post_form(client, f"/setup/{token}", setup_form(**overrides))
    assert response.status_code == 200
    assert message in field_errors(response, field)
    assert employees(db) == []
    assert client.get(f"/setup/{token}").status_code == 200


# --- flask create-admin -----------------------------------------------------------------------

def test_create_admin_creates_an_administrator_who_can_sign_in(app, client, db):
    result = flask(app, "create-admin", "--username", "root.admin", "--password", PASSWORD)
    assert result.exit_code == 0, result.output
    assert "root.admin" in result.output
    [admin] = employees(db)
    assert (admin.username, admin.status_level, admin.active) == ("root.admin", 9, True)
    assert log_in(client, "root.admin", PASSWORD).status_code == 302
    assert client.get("/employees/").status_code == 200


def test_create_admin_prompts_for_the_password_when_not_given(app, db):
    result = flask(app, "create-admin", "--username", "root.admin", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output  # typed, not echoed
    assert [e.username for e in employees(db)] == ["root.admin"]


@pytest.mark.parametrize(
    ("username", "password", "reason"),
    [
        ("root.admin", "short", "at least 12 characters"),
        ("root.admin.one", "Root.Admin.One", "cannot be the username"),
        ("root.admin", "password1234", "too common"),
    ],
)
def test_create_admin_refuses_a_weak_password(app, db, username, password, reason):
    result = flask(app, "create-admin", "--username", username, "--password", password)
    assert_clean_refusal(result, reason)
    assert employees(db) == []


def test_create_admin_refuses_a_duplicate_username(app, db, make_employee):
    make_employee(username="root.admin", status_level=1)
    result = flask(app, "create-admin", "--username", "ROOT.ADMIN", "--password", PASSWORD)
    assert_clean_refusal(result, "already in use")
    [existing] = employees(db)
    assert existing.status_level == 1


@pytest.mark.parametrize("username", ["x" * 65, "root admin", "root<admin>"])
def test_create_admin_refuses_a_username_the_portal_would_not_accept(app, db, username):
    """The rules of Employee maintenance hold here too: a name it cannot save is refused up front."""
    result = flask(app, "create-admin", "--username", username, "--password", PASSWORD)
    assert_clean_refusal(result, "username")
    assert employees(db) == []


def test_create_admin_refuses_an_over_long_full_name(app, db):
    result = flask(app, "create-admin", "--username", "root.admin", "--full-name", "x" * 500, "--password", PASSWORD)
    assert_clean_refusal(result, "full name")
    assert employees(db) == []


# --- flask setup-link -------------------------------------------------------------------------

def test_setup_link_prints_a_working_one_time_link_on_an_empty_database(app, client):
    result = flask(app, "setup-link", "--base-url", "http://portal.example:8000")
    assert result.exit_code == 0
    [link] = re.findall(r"http://\S+", result.output)
    assert link.startswith("http://portal.example:8000/setup/")
    assert client.get(urlsplit(link).path).status_code == 200


def test_setup_link_prints_nothing_once_an_employee_exists(app, make_employee):
    make_employee()
    result = flask(app, "setup-link")
    assert result.exit_code == 0
    assert result.output.strip() == ""


def test_each_setup_link_replaces_the_one_before(app, client):
    first = re.findall(r"http://\S+", flask(app, "setup-link").output)[0]
    second = re.findall(r"http://\S+", flask(app, "setup-link").output)[0]
    assert client.get(urlsplit(first).path).status_code == 404
    assert client.get(urlsplit(second).path).status_code == 200


# --- flask demo -------------------------------------------------------------------------------

def test_demo_creates_employees_of_several_levels_whose_printed_passwords_sign_in(app, db):
    result = flask(app, "demo")
    assert result.exit_code == 0, result.output
    printed = DEMO_LINE.findall(result.output)
    assert len(printed) >= 3
    stored = {e.username: e.status_level for e in employees(db)}
    assert {username: int(level) for username, level, _ in printed} == stored
    levels = set(stored.values())
    assert 9 in levels and levels & {5, 6, 7, 8} and levels & {1, 2, 3, 4}
    for username, _level, password in printed:
        browser = app.test_client()
        assert log_in(browser, username, password).status_code == 302, username


def test_demo_twice_does_not_fail_and_keeps_the_first_passwords(app, db):
    first = DEMO_LINE.findall(flask(app, "demo").output)
    count = len(employees(db))
    second = flask(app, "demo")
    assert second.exit_code == 0, second.output
    assert "already exists" in second.output
    assert len(employees(db)) == count
    username, _level, password = first[0]
    assert log_in(app.test_client(), username, password).status_code == 302


def test_demo_on_an_empty_database_leaves_no_setup_link(app, db):
    flask(app, "demo")
    assert db.session.scalar(db.select(func.count(Employee.id))) > 0
    assert flask(app, "setup-link").output.strip() == ""
