"""Employee maintenance › Edit: Reset MFA, Unlock, and the locked-employees filter."""
from datetime import timedelta

import pytest

from portal import settings
from portal.mfa import service as mfa
from portal.mfa.providers import recovery_codes, totp
from portal.models import AuditEvent
from tests.authenticator import totp_code
from tests.conftest import log_in, post_form


@pytest.fixture
def enrolled_bob(make_employee, frozen_clock):
    settings.save({"mfa.status": True, "mfa.mode": "mandatory"})
    bob = make_employee(username="bob", email="bob@example.com")
    enrolment = mfa.prepare(bob)
    mfa.activate(bob, totp_code(enrolment.secret))
    return bob, enrolment.secret


def test_edit_page_shows_mfa_status(admin_client, enrolled_bob):
    bob, _ = enrolled_bob
    html = admin_client.get(f"/employees/{bob.id}").get_data(as_text=True)
    assert "Enrolled since" in html and "Recovery codes left</dt><dd class=\"col-sm-9\">10" in html
    assert ">Reset MFA</h3>" in html


def test_reset_mfa_needs_reason_and_confirmation(admin_client, enrolled_bob, db):
    bob, _ = enrolled_bob
    response = post_form(admin_client, f"/employees/{bob.id}/mfa/reset", {"reason": ""},
                         form_url=f"/employees/{bob.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "This field is required." in html and "Tick this to confirm the reset." in html
    assert totp.credentials(bob.id)


def test_reset_mfa_clears_factors_ends_sessions_and_offers_signup_again(app, admin_client, enrolled_bob, db,
                                                                        admin, smtp_server, frozen_clock):
    bob, secret = enrolled_bob
    bob_browser = app.test_client()
    log_in(bob_browser, "bob")
    frozen_clock.advance(timedelta(seconds=30))
    post_form(bob_browser, "/login/verify", {"code": totp_code(secret)})
    assert bob_browser.get("/").status_code == 200

    response = post_form(admin_client, f"/employees/{bob.id}/mfa/reset",
                         {"reason": "lost phone", "confirm_reset": "y"}, form_url=f"/employees/{bob.id}")
    assert response.status_code == 302
    assert totp.credentials(bob.id) == [] and recovery_codes.remaining(bob.id) == 0
    assert bob_browser.get("/").headers["Location"].startswith("/login")
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.event == "mfa.reset"))
    assert (event.actor_id, event.subject_id, event.details) == (admin.id, bob.id, {"reason": "lost phone"})
    assert [m["To"] for m in smtp_server if "reset" in m["Subject"]] == ["bob@example.com"]

    log_in(bob_browser, "bob")
    assert ">Signup for MFA</button>" in bob_browser.get("/login/verify").get_data(as_text=True)


def test_staff_cannot_reset_or_unlock(app, enrolled_bob, make_employee):
    bob, _ = enrolled_bob
    make_employee(username="manager", status_level=8)
    settings.save({"mfa.status": False})
    manager = app.test_client()
    log_in(manager, "manager")
    for url in (f"/employees/{bob.id}/mfa/reset", f"/employees/{bob.id}/unlock"):
        assert post_form(manager, url, {"reason": "x", "confirm_reset": "y"}, form_url="/").status_code == 403
    assert totp.credentials(bob.id)


def test_second_step_lock_is_shown_unlocked_and_filtered(app, admin_client, enrolled_bob, db, make_employee):
    bob, secret = enrolled_bob
    make_employee(username="carl")
    for _ in range(5):
        mfa.verify(bob, "totp", "000000", "198.51.100.7")
    html = admin_client.get(f"/employees/{bob.id}").get_data(as_text=True)
    assert "Locked until" in html and "from 198.51.100.7" in html
    listed = admin_client.get("/employees/?locked=y").get_data(as_text=True)
    assert ">bob<" in listed and ">carl<" not in listed

    unlock = post_form(admin_client, f"/employees/{bob.id}/unlock", {}, form_url=f"/employees/{bob.id}")
    assert unlock.status_code == 302
    db.session.refresh(bob)
    assert bob.mfa_locked_until is None and bob.mfa_failed_count == 0
    assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.event == "account.unlocked"))
    assert ">bob<" not in admin_client.get("/employees/?locked=y").get_data(as_text=True)
