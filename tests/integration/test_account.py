"""The signed-in employee's own profile and password change."""

import pytest

from portal.models import AuditEvent, UserSession
from tests.conftest import field_errors, log_in, post_form

OLD_PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new secret phrase"


def change_password(client, current=OLD_PASSWORD, new=NEW_PASSWORD, confirm=None):
    data = {"current_password": current, "password": new, "confirm": new if confirm is None else confirm}
    return post_form(client, "/account/", data)


@pytest.fixture
def sam(make_employee):
    return make_employee(username="sam", full_name="Sam Staff", email="sam@example.com",
                         mobile_phone="+447911123456", status_level=3)


@pytest.fixture
def sam_client(client, sam):
    assert log_in(client, "sam").status_code == 302
    return client


def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get("/account/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_profile_shows_own_details(sam_client):
    response = sam_client.get("/account/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for shown in ("sam", "Sam Staff", "sam@example.com", "+447911123456", "Status level</dt><dd class=\"col-sm-9\">3"):
        assert shown in page
    for field_id, label in [("current_password", "Current password"), ("password", "New password"),
                            ("confirm", "Confirm new password")]:
        assert f'for="{field_id}">{label}</label>' in page


def test_profile_shows_only_ones_own_details(sam_client, make_employee):
    make_employee(username="other", full_name="Olga Other", email="olga@example.com")
    page = sam_client.get("/account/").get_data(as_text=True)
    assert "Olga Other" not in page and "olga@example.com" not in page


def test_wrong_current_password_is_a_field_error_and_changes_nothing(sam_client, app, db):
    response = change_password(sam_client, current="not my password at all")
    assert response.status_code == 200
    assert "current password is not correct" in field_errors(response, "current_password")
    assert log_in(app.test_client(), "sam", NEW_PASSWORD).status_code == 200
    assert log_in(app.test_client(), "sam").status_code == 302
    assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.event == "password.changed")) is None


@pytest.mark.parametrize(
    ("new", "confirm", "field", "message"),
    [
        ("too short", None, "password", "at least 12 characters"),
        ("administrator", None, "password", "too common"),
        (OLD_PASSWORD, None, "password", "different from the current"),
        (NEW_PASSWORD, "a different confirmation", "confirm", "do not match"),
        ("x" * 5000, None, "password", "128"),
    ],
)
def test_refused_new_password_keeps_the_old_one(sam_client, app, new, confirm, field, message):
    response = change_password(sam_client, new=new, confirm=confirm)
    assert response.status_code == 200
    assert message in field_errors(response, field)
    assert log_in(app.test_client(), "sam").status_code == 302


def test_new_password_cannot_be_the_username(app, make_employee):
    make_employee(username="sam.the.cashier")
    client = app.test_client()
    log_in(client, "sam.the.cashier")
    response = change_password(client, new="Sam.The.Cashier")
    assert "cannot be the username" in field_errors(response, "password")


def test_change_keeps_this_browser_and_signs_out_the_others(sam_client, app, db, sam):
    other_browser = app.test_client()
    assert log_in(other_browser, "sam").status_code == 302
    assert other_browser.get("/account/").status_code == 200

    response = change_password(sam_client)
    assert response.status_code == 302 and response.headers["Location"] == "/account/"

    page = sam_client.get("/account/")
    assert page.status_code == 200
    assert "Your password has been changed" in page.get_data(as_text=True)
    assert sam_client.get("/").status_code == 200  # still signed in on the next page too

    signed_out = other_browser.get("/account/")
    assert signed_out.status_code == 302 and signed_out.headers["Location"].startswith("/login")

    open_sessions = db.session.scalars(
        db.select(UserSession).where(UserSession.employee_id == sam.id, UserSession.ended_at.is_(None))
    ).all()
    assert len(open_sessions) == 1


def test_after_change_only_the_new_password_signs_in(sam_client, app, db, sam):
    change_password(sam_client)
    assert log_in(app.test_client(), "sam", OLD_PASSWORD).status_code == 200
    assert log_in(app.test_client(), "sam", NEW_PASSWORD).status_code == 302
    [row] = db.session.scalars(db.select(AuditEvent).where(AuditEvent.event == "password.changed")).all()
    assert (row.actor_id, row.subject_id) == (sam.id, sam.id)
    assert NEW_PASSWORD not in str(row.details) and OLD_PASSWORD not in str(row.details)


def test_change_without_csrf_token_is_refused(sam_client, app):
    data = {"current_password": OLD_PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    assert sam_client.post("/account/", data=data).status_code == 400
    assert log_in(app.test_client(), "sam", OLD_PASSWORD).status_code == 302


def test_guessing_the_current_password_locks_the_account_and_ends_its_sessions(sam_client, app, db, sam):
    other = app.test_client()
    log_in(other, sam.username)
    for _ in range(10):
        change_password(sam_client, current="a wrong guess here")
        if sam_client.get("/account/").status_code != 200:
            break
    db.session.refresh(sam)
    assert sam.locked_until is not None
    assert sam_client.get("/account/").status_code == 302
    assert other.get("/account/").status_code == 302
    assert log_in(app.test_client(), sam.username).status_code == 200  # locked: the password is refused
