"""My profile › Multi-factor authentication: signup, fresh proof, new recovery codes, replace, switch off."""
import re
from datetime import timedelta

import pytest

from portal import settings
from portal.mfa import service as mfa
from portal.mfa.providers import recovery_codes, totp
from portal.models import AuditEvent
from tests.authenticator import key_from_page, totp_code
from tests.conftest import log_in, post_form

CODE_RE = re.compile(r"<li>([a-z2-9]{5}-[a-z2-9]{5})</li>")


@pytest.fixture
def signed_in(client, make_employee, frozen_clock):
    """An employee signed in while MFA is On (Optional) but not yet enrolled."""
    settings.save({"mfa.status": True, "mfa.mode": "optional"})
    employee = make_employee(username="ann", email="ann@example.com")
    log_in(client, "ann")
    post_form(client, "/login/skip", {}, form_url="/login/verify")
    return employee


def enrol_on_profile(client) -> tuple[str, list[str]]:
    page = post_form(client, "/account/mfa/signup", {}, form_url="/account/").get_data(as_text=True)
    key = key_from_page(page)
    html = post_form(client, "/account/mfa/activate", {"code": totp_code(key)}, form_url="/account/")
    return key, CODE_RE.findall(html.get_data(as_text=True))


def confirm(client, clock, key, password="correct horse battery"):
    clock.advance(timedelta(seconds=30))
    return post_form(client, "/account/mfa/confirm", {"password": password, "code": totp_code(key)},
                     form_url="/account/")


def test_signup_from_the_profile(client, signed_in, db):
    assert ">Signup for MFA</button>" in client.get("/account/").get_data(as_text=True)
    key, codes = enrol_on_profile(client)
    assert len(codes) == 10
    response = post_form(client, "/account/mfa/finish", {"saved": "y"}, form_url="/account/")
    assert response.headers["Location"] == "/account/"
    page = client.get("/account/").get_data(as_text=True)
    assert "Enrolled since" in page and "Signup for MFA" not in page
    assert post_form(client, "/account/mfa/signup", {}, form_url="/account/").status_code == 403


def test_finish_without_activation_is_refused(client, signed_in):
    assert post_form(client, "/account/mfa/finish", {"saved": "y"}, form_url="/account/").status_code == 403


def test_changes_need_a_fresh_proof_that_expires(client, signed_in, frozen_clock, db):
    key, old_codes = enrol_on_profile(client)
    assert post_form(client, "/account/mfa/recovery-codes", {}, form_url="/account/").status_code == 403
    assert post_form(client, "/account/mfa/off", {}, form_url="/account/").status_code == 403

    wrong = confirm(client, frozen_clock, key, password="not my password")
    assert wrong.status_code == 400 and "The password or the code is not valid." in wrong.get_data(as_text=True)
    db.session.refresh(signed_in)
    assert signed_in.mfa_failed_count == 1

    assert confirm(client, frozen_clock, key).status_code == 302
    response = post_form(client, "/account/mfa/recovery-codes", {}, form_url="/account/")
    new_codes = CODE_RE.findall(response.get_data(as_text=True))
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    assert not recovery_codes.use(signed_in.id, old_codes[0], frozen_clock.utcnow())
    assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.event == "mfa.recovery_codes_regenerated"))

    frozen_clock.advance(timedelta(minutes=5, seconds=1))
    assert post_form(client, "/account/mfa/recovery-codes", {}, form_url="/account/").status_code == 403


def test_switch_off_in_optional_mode_but_never_in_mandatory(client, signed_in, frozen_clock, smtp_server, db):
    key, _ = enrol_on_profile(client)
    confirm(client, frozen_clock, key)
    settings.save({"mfa.mode": "mandatory"})
    assert "Switch off MFA" not in client.get("/account/").get_data(as_text=True)
    assert post_form(client, "/account/mfa/off", {}, form_url="/account/").status_code == 403
    settings.save({"mfa.mode": "optional"})
    assert post_form(client, "/account/mfa/off", {}, form_url="/account/").status_code == 302
    assert not totp.credentials(signed_in.id) and recovery_codes.remaining(signed_in.id) == 0
    assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.event == "mfa.deactivated"))
    assert smtp_server[-1]["Subject"] == "Multi-factor authentication is off for your account"


def test_abandoned_replacement_keeps_the_old_app_and_a_finished_one_replaces_it(client, signed_in, frozen_clock):
    old_key, _ = enrol_on_profile(client)
    confirm(client, frozen_clock, old_key)
    page = post_form(client, "/account/mfa/signup", {}, form_url="/account/").get_data(as_text=True)
    new_key = key_from_page(page)
    assert new_key != old_key
    frozen_clock.advance(timedelta(seconds=30))
    assert mfa.verify(signed_in, "totp", totp_code(old_key)).ok  # abandoned halfway: the old app still works

    post_form(client, "/account/mfa/signup", {}, form_url="/account/")  # a new attempt, new pending secret
    page = post_form(client, "/account/mfa/signup", {}, form_url="/account/").get_data(as_text=True)
    new_key = key_from_page(page)
    frozen_clock.advance(timedelta(seconds=30))
    post_form(client, "/account/mfa/activate", {"code": totp_code(new_key)}, form_url="/account/")
    frozen_clock.advance(timedelta(seconds=30))
    assert not mfa.verify(signed_in, "totp", totp_code(old_key)).ok
    frozen_clock.advance(timedelta(seconds=30))
    assert mfa.verify(signed_in, "totp", totp_code(new_key)).ok


def test_few_recovery_codes_left_are_announced(client, signed_in, frozen_clock):
    _key, codes = enrol_on_profile(client)
    for code in codes[:7]:
        assert mfa.verify(signed_in, "recovery", code).ok
    assert "Only 3 recovery codes are left" in client.get("/account/").get_data(as_text=True)


def test_an_abandoned_replacement_cannot_be_finished_without_a_fresh_proof(client, signed_in, frozen_clock):
    old_key, _ = enrol_on_profile(client)
    confirm(client, frozen_clock, old_key)
    new_key = key_from_page(post_form(client, "/account/mfa/signup", {}, form_url="/account/").get_data(True))
    frozen_clock.advance(timedelta(hours=1))  # the desk is left unlocked; the proof has expired
    refused = post_form(client, "/account/mfa/activate", {"code": totp_code(new_key)}, form_url="/account/")
    assert refused.status_code == 403 and new_key not in refused.get_data(as_text=True)
    assert mfa.verify(signed_in, "totp", totp_code(old_key)).ok


def test_a_signup_started_in_one_browser_is_invisible_to_another(app, client, signed_in):
    key = key_from_page(post_form(client, "/account/mfa/signup", {}, form_url="/account/").get_data(True))
    other = app.test_client()
    log_in(other, "ann")
    post_form(other, "/login/skip", {}, form_url="/login/verify")
    response = post_form(other, "/account/mfa/activate", {"code": ""}, form_url="/account/")
    assert response.status_code == 403 and key not in response.get_data(as_text=True)
