"""Employee maintenance › Edit: Reset MFA, Unlock, and the locked-employees filter."""
import re
from datetime import timedelta

import pytest

from portal import settings
from portal.mfa import service as mfa
from portal.mfa.providers import recovery_codes, totp
from portal.models import AuditEvent
from tests.authenticator import key_from_page, totp_code
from tests.conftest import log_in, post_form


@pytest.fixture
def enrolled_bob(make_employee, frozen_clock):
    settings.save({"mfa.status": True, "mfa.mode": "mandatory"})
    bob = make_employee(username="bob", email="bob@example.com")
    enrolment = mfa.prepare(bob)
    mfa.activate(bob, enrolment.credential.id, totp_code(enrolment.secret))
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
    assert (event.actor_id, event.subject_id) == (admin.id, bob.id)
    assert event.details == {"reason": "lost phone", "enrolment_code": "not required"}
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


def _reset(admin_client, employee):
    return post_form(admin_client, f"/employees/{employee.id}/mfa/reset", {"reason": "new phone",
                     "confirm_reset": "y"}, form_url=f"/employees/{employee.id}")


def test_enrolment_code_after_reset_is_emailed_and_needed_for_signup(app, admin_client, enrolled_bob, db,
                                                                     smtp_server, frozen_clock):
    bob, _ = enrolled_bob
    settings.save({"mfa.require_enrolment_code": True})
    response = _reset(admin_client, bob)
    assert "emailed to bob@example.com" in admin_client.get(response.headers["Location"]).get_data(True)
    body = smtp_server[-1].get_content()
    code = re.search(r"^ +([A-Z2-9]{5}-[A-Z2-9]{5})\s*$", body, re.M).group(1)

    browser = app.test_client()
    log_in(browser, "bob")
    page = browser.get("/login/verify").get_data(as_text=True)
    assert 'for="enrolment_code">Enrolment code</label>' in page
    refused = post_form(browser, "/login/signup", {"enrolment_code": "AAAAA-AAAAA"}, form_url="/login/verify")
    assert refused.status_code == 400 and "not valid or has expired" in refused.get_data(as_text=True)
    db.session.refresh(bob)
    assert bob.mfa_failed_count == 1

    page = post_form(browser, "/login/signup", {"enrolment_code": code.lower()}, form_url="/login/verify")
    key = key_from_page(page.get_data(as_text=True))
    post_form(browser, "/login/signup/activate", {"code": totp_code(key)}, form_url="/login/verify")
    db.session.refresh(bob)
    assert bob.mfa_enrolment_code_hash is None  # spent
    assert totp.credentials(bob.id)


def test_enrolment_code_is_shown_once_without_email_and_expires(app, admin_client, make_employee, db,
                                                                 frozen_clock):
    settings.save({"mfa.status": True, "mfa.mode": "mandatory", "mfa.require_enrolment_code": True})
    dan = make_employee(username="dan", email=None)
    enrolment = mfa.prepare(dan)
    mfa.activate(dan, enrolment.credential.id, totp_code(enrolment.secret))
    response = _reset(admin_client, dan)
    shown = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    code = re.search(r"enrolment code in person: ([A-Z2-9]{5}-[A-Z2-9]{5})", shown).group(1)
    assert code not in admin_client.get(f"/employees/{dan.id}").get_data(as_text=True)  # shown only once

    frozen_clock.advance(timedelta(hours=24, seconds=1))
    browser = app.test_client()
    log_in(browser, "dan")
    expired = post_form(browser, "/login/signup", {"enrolment_code": code}, form_url="/login/verify")
    assert expired.status_code == 400 and "<dialog" not in expired.get_data(as_text=True)


def test_without_the_option_no_code_is_asked(app, admin_client, enrolled_bob, smtp_server):
    bob, _ = enrolled_bob
    _reset(admin_client, bob)
    assert "enrolment code" not in smtp_server[-1].get_content()
    browser = app.test_client()
    log_in(browser, "bob")
    assert "Enrolment code" not in browser.get("/login/verify").get_data(as_text=True)
    assert "<dialog" in post_form(browser, "/login/signup", {}, form_url="/login/verify").get_data(as_text=True)
