"""Inactivity expiry, absolute lifetime, the popup's calls, and ending sessions (issue: session expiry)."""
import re
from datetime import timedelta

import pytest

from portal import settings
from portal.models import AuditEvent, UserSession
from tests.conftest import csrf_token, log_in, post_form

MINUTE = timedelta(minutes=1)


@pytest.fixture
def always(db):
    """Inactivity timeout for everyone (MFA off keeps sign-in to the password)."""
    settings.save({"session.timeout_applies": "always", "session.timeout_minutes": 120,
                   "session.warning_minutes": 5})


@pytest.fixture
def ann(client, make_employee, frozen_clock):
    employee = make_employee(username="ann")
    assert log_in(client, "ann").status_code == 302
    return employee


def _record(db, employee):
    return db.session.scalar(db.select(UserSession).where(UserSession.employee_id == employee.id))


def test_activity_postpones_expiry_and_expiry_is_exact(client, always, ann, frozen_clock):
    frozen_clock.advance(119 * MINUTE)
    assert client.get("/account/").status_code == 200  # activity: the clock restarts here
    frozen_clock.advance(120 * MINUTE - timedelta(seconds=1))
    assert client.get("/session/status").json["expires_in"] == 1
    frozen_clock.advance(timedelta(seconds=1))
    response = client.get("/account/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/account/"
    assert "Your session expired due to inactivity." in client.get(response.headers["Location"]).get_data(True)


def test_status_checks_are_not_activity(client, always, ann, frozen_clock):
    for _ in range(11):
        frozen_clock.advance(10 * MINUTE)
        assert client.get("/session/status").status_code == 200
    frozen_clock.advance(10 * MINUTE)  # 120 minutes since the sign-in, the last activity
    expired = client.get("/session/status")
    assert expired.status_code == 401
    assert expired.json == {"error": "Your session expired due to inactivity.", "errorcode": "sessionexpired",
                            "reason": "inactivity"}
    assert client.get("/").status_code == 302


def test_stay_signed_in_counts_as_activity_at_once(client, always, ann, frozen_clock, db):
    frozen_clock.advance(116 * MINUTE)
    status = client.get("/session/status").json
    assert status["expires_in"] == 4 * 60 and status["warning"] == 5 * 60 and status["inactivity_timeout"]
    token = csrf_token(client, "/")  # a page load is activity too: do it before the 116 minutes
    frozen_clock.advance(30 * timedelta(seconds=1))
    refreshed = client.post("/session/keepalive", headers={"X-CSRFToken": token})
    assert refreshed.json["expires_in"] == 120 * 60
    assert client.post("/session/keepalive").status_code == 400  # no CSRF token, no keep-alive


def test_activity_is_written_at_most_once_a_minute(client, always, ann, frozen_clock, db):
    seen = []
    for _ in range(10):
        frozen_clock.advance(timedelta(seconds=15))
        client.get("/")
        db.session.expire_all()
        seen.append(_record(db, ann).last_seen_at)
    assert len(set(seen)) <= 3  # 150 s of requests every 15 s: two or three writes, not ten


def test_absolute_lifetime_ends_even_an_active_session(client, always, ann, frozen_clock):
    for _ in range(12 * 2):
        frozen_clock.advance(30 * MINUTE)
        if client.get("/").status_code != 200:
            break
    assert client.get("/").status_code == 302
    assert frozen_clock.utcnow() - ann.created_at <= timedelta(hours=12, minutes=30)


def test_mandatory_mode_only_is_the_default(client, ann, frozen_clock):
    frozen_clock.advance(10 * 60 * MINUTE)  # ten idle hours, MFA off: the inactivity timeout does not apply
    assert client.get("/").status_code == 200
    assert client.get("/session/status").json["inactivity_timeout"] is False


def test_mandatory_mode_applies_the_timeout(client, make_employee, frozen_clock):
    from portal.mfa import service as mfa
    from tests.authenticator import totp_code

    settings.save({"mfa.status": True, "mfa.mode": "mandatory"})
    employee = make_employee(username="bob")
    enrolment = mfa.prepare(employee)
    key = enrolment.secret
    mfa.activate(employee, enrolment.credential.id, totp_code(key))
    frozen_clock.advance(timedelta(seconds=30))
    log_in(client, "bob")
    post_form(client, "/login/verify", {"code": totp_code(key)})
    assert client.get("/").status_code == 200
    frozen_clock.advance(121 * MINUTE)
    assert client.get("/").headers["Location"] == "/login?next=/"


def test_after_expiry_sign_in_returns_to_the_page(client, always, ann, frozen_clock):
    frozen_clock.advance(121 * MINUTE)
    login_url = client.get("/account/?tab=x").headers["Location"]
    response = post_form(client, login_url, {"username": "ann", "password": "correct horse battery"})
    assert response.headers["Location"] == "/account/?tab=x"


def test_the_popup_script_and_dialog_are_on_signed_in_pages_only(client, always, ann):
    html = client.get("/").get_data(as_text=True)
    assert 'src="/static/js/session-timeout.js"' in html and 'id="session-timeout"' in html
    assert ">Stay signed in</button>" in html
    post_form(client, "/logout", {}, form_url="/")
    assert "session-timeout" not in client.get("/login").get_data(as_text=True)


def test_administrator_sees_and_ends_sessions(app, admin_client, make_employee, db, admin):
    bob = make_employee(username="bob")
    phone, desk = app.test_client(), app.test_client()
    log_in(phone, "bob")
    log_in(desk, "bob")
    page = admin_client.get(f"/employees/{bob.id}").get_data(as_text=True)
    handles = re.findall(r'name="handle" value="([0-9a-f]+)"', page)
    assert len(handles) == 2 and ">End all sessions</button>" in page
    sids = {r.id for r in db.session.scalars(db.select(UserSession).where(UserSession.employee_id == bob.id))}
    assert not any(h in sid for h in handles for sid in sids)  # the page never shows a session id

    post_form(admin_client, f"/employees/{bob.id}/sessions/end", {"handle": handles[0]},
              form_url=f"/employees/{bob.id}")
    statuses = sorted([phone.get("/").status_code, desk.get("/").status_code])
    assert statuses == [200, 302]
    post_form(admin_client, f"/employees/{bob.id}/sessions/end", {}, form_url=f"/employees/{bob.id}")
    assert phone.get("/").status_code == 302 and desk.get("/").status_code == 302
    events = db.session.scalars(db.select(AuditEvent).where(AuditEvent.event == "session.ended")).all()
    assert [(e.actor_id, e.subject_id) for e in events] == [(admin.id, bob.id)] * 2


def test_employee_ends_their_other_sessions_but_not_this_one(app, client, ann, db):
    other = app.test_client()
    log_in(other, "ann")
    page = client.get("/account/").get_data(as_text=True)
    assert "This browser" in page and "End session" in page
    post_form(client, "/account/sessions/end", {}, form_url="/account/")
    assert client.get("/account/").status_code == 200
    assert other.get("/account/").status_code == 302


def test_employee_cannot_end_someone_elses_session(app, client, ann, make_employee, db):
    bob = make_employee(username="bob", status_level=9)
    bob_desk, bob_phone = app.test_client(), app.test_client()
    log_in(bob_desk, "bob")
    log_in(bob_phone, "bob")
    handles = re.findall(r'name="handle" value="([0-9a-f]+)"', bob_desk.get(f"/employees/{bob.id}").get_data(True))
    assert handles
    for handle in handles:
        post_form(client, "/account/sessions/end", {"handle": handle}, form_url="/account/")
    assert bob_desk.get("/").status_code == 200 and bob_phone.get("/").status_code == 200


def test_settings_form_refuses_a_warning_longer_than_the_timeout(admin_client):
    page = admin_client.get("/sysconfig/mfa").get_data(as_text=True)
    assert "NIST SP 800-63B" in page
    form = {"status": "off", "mode": "optional", "issuer": "Back Office", "digits": "6", "algorithm": "SHA1",
            "period": "30", "drift": "1", "failed_limit": "5", "lock_minutes": "15",
            "timeout_minutes": "10", "warning_minutes": "10", "timeout_applies": "always"}
    refused = post_form(admin_client, "/sysconfig/mfa", form)
    assert "The warning must come before the timeout" in refused.get_data(as_text=True)
    assert settings.get("session.timeout_minutes") == 120
    assert post_form(admin_client, "/sysconfig/mfa", {**form, "warning_minutes": "2"}).status_code == 302
    assert (settings.get("session.timeout_minutes"), settings.get("session.timeout_applies")) == (10, "always")
