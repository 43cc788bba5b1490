"""Sign-in, sign-out and lockout through the real routes."""
from datetime import timedelta

from portal.models import AuditEvent, UserSession
from tests.conftest import log_in, post_form

FAILED = "The username or password is incorrect."


def test_login_page_has_labelled_fields_and_lock_notice(client):
    html = client.get("/login").get_data(as_text=True)
    assert '<label class="form-label" for="username">Username</label>' in html
    assert '<label class="form-label" for="password">Password</label>' in html
    assert 'value="Log in"' in html
    assert "repeated failed attempts lock an account" in html


def test_correct_password_signs_in_and_records_session(client, make_employee, db):
    employee = make_employee(username="Anna", full_name="Anna Example")
    response = log_in(client, "anna")  # usernames are case-insensitive
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Welcome, Anna Example" in client.get("/").get_data(as_text=True)
    record = db.session.scalar(db.select(UserSession).where(UserSession.employee_id == employee.id))
    assert record is not None and record.ended_at is None
    events = [e.event for e in db.session.scalars(db.select(AuditEvent))]
    assert events == ["signin.succeeded"]


def test_unknown_user_and_wrong_password_read_the_same(client, make_employee):
    make_employee(username="bob")
    unknown = log_in(client, "nobody", "whatever password")
    wrong = log_in(client, "bob", "wrong password here")
    for response in (unknown, wrong):
        assert response.status_code == 200
        assert FAILED in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_inactive_employee_cannot_sign_in(client, make_employee):
    make_employee(username="gone", active=False)
    response = log_in(client, "gone")
    assert FAILED in response.get_data(as_text=True)


def test_lockout_after_threshold_reads_like_wrong_password(client, make_employee, db, frozen_clock):
    employee = make_employee(username="carol")
    for _ in range(10):
        log_in(client, "carol", "wrong password here")
    db.session.refresh(employee)
    assert employee.locked_until is not None
    # the right password is refused while locked, with the same words
    response = log_in(client, "carol")
    assert response.status_code == 200 and FAILED in response.get_data(as_text=True)
    assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.event == "account.locked"))
    # after the lock period the right password works and clears the counters
    frozen_clock.advance(timedelta(minutes=16))
    assert log_in(client, "carol").status_code == 302
    db.session.refresh(employee)
    assert (employee.failed_login_count, employee.lockout_count, employee.locked_until) == (0, 0, None)


def test_each_lock_lasts_longer(client, make_employee, db, frozen_clock):
    employee = make_employee(username="dave")
    periods = []
    for _ in range(3):
        start = frozen_clock.utcnow()
        for _ in range(10):
            log_in(client, "dave", "wrong password here")
        db.session.refresh(employee)
        periods.append(employee.locked_until - start)
        frozen_clock.advance(periods[-1] + timedelta(seconds=1))
    assert periods == [timedelta(minutes=15), timedelta(minutes=30), timedelta(minutes=60)]


def test_session_identifier_changes_at_sign_in_and_logout_ends_it(client, make_employee, db):
    make_employee(username="erin")
    client.get("/login")
    log_in(client, "erin")
    with client.session_transaction() as s:
        first_sid = s["sid"]
    stolen_cookie = client.get_cookie("session").value
    assert client.get("/logout").status_code == 405  # Log out is a POST
    post_form(client, "/logout", {}, form_url="/")
    assert client.get("/").status_code == 302
    assert db.session.get(UserSession, first_sid).ended_at is not None
    # replaying the cookie from before the logout opens nothing
    client.set_cookie("session", stolen_cookie)
    assert client.get("/").status_code == 302
    log_in(client, "erin")
    with client.session_transaction() as s:
        assert s["sid"] != first_sid


def test_password_is_never_kept_in_the_session(client, make_employee):
    make_employee(username="fay")
    log_in(client, "fay")
    with client.session_transaction() as s:
        assert "correct horse battery" not in repr(dict(s))


def test_next_is_followed_only_when_local(client, make_employee):
    make_employee(username="gus", status_level=9)
    token_page = "/login?next=/employees/"
    assert log_in(client, "gus", form_url=token_page).status_code == 302
    response = post_form(client, "/logout", {}, form_url="/")
    for target, expected in (("/employees/", "/employees/"), ("https://evil.example/", "/"),
                             ("//evil.example/", "/")):
        response = post_form(client, f"/login?next={target}", {"username": "gus",
                             "password": "correct horse battery"}, form_url="/login")
        assert response.headers["Location"] == expected
        post_form(client, "/logout", {}, form_url="/")


def test_failed_sign_ins_from_one_address_are_rate_limited(app, client, make_employee):
    make_employee(username="hal")
    responses = [log_in(client, f"user{i}", "wrong password here") for i in range(31)]
    assert [r.status_code for r in responses[:30]] == [200] * 30
    assert responses[30].status_code == 429
    assert "Too many attempts" in responses[30].get_data(as_text=True)
    # the address stays limited even for a correct password
    assert log_in(client, "hal").status_code == 429
