"""The MFA journey through the real routes: Sys Config › MFA, the code screen, Skip, Signup, recovery codes."""
import re
from datetime import timedelta

import pytest

from portal import settings
from portal.mfa import service as mfa
from portal.models import AuditEvent, MfaCredential, RecoveryCode, UserSession
from portal.security import secret_box
from portal.services.employees import set_password
from tests.authenticator import key_from_page, totp_code
from tests.conftest import log_in, post_form

CODES_RE = re.compile(r'<ul class="recovery-codes[^>]*>(.*?)</ul>', re.S)


@pytest.fixture
def mfa_on(db):
    def switch(mode="optional", **extra):
        settings.save({"mfa.status": True, "mfa.mode": mode, **extra})
    return switch


def sign_up(client, frozen_clock) -> tuple[str, list[str]]:
    """From the code screen: open Signup for MFA, confirm a code from oathtool; returns key and recovery codes."""
    page = post_form(client, "/login/signup", {}, form_url="/login/verify").get_data(as_text=True)
    assert "<dialog" in page and "Signup for MFA" in page
    key = key_from_page(page)
    response = post_form(client, "/login/signup/activate", {"code": totp_code(key)}, form_url="/login/verify")
    html = response.get_data(as_text=True)
    codes = re.findall(r"<li>([a-z2-9]{5}-[a-z2-9]{5})</li>", CODES_RE.search(html).group(1))
    return key, codes


def finish(client):
    return post_form(client, "/login/signup/finish", {"saved": "y"}, form_url="/login/verify")


def test_mfa_off_signs_in_with_the_password_only(client, make_employee):
    make_employee(username="ann")
    assert log_in(client, "ann").headers["Location"] == "/"


def test_optional_mode_offers_skip_and_signup(client, make_employee, mfa_on, db):
    mfa_on("optional")
    make_employee(username="ann")
    assert log_in(client, "ann").headers["Location"] == "/login/verify"
    html = client.get("/login/verify").get_data(as_text=True)
    assert ">Skip</button>" in html and ">Signup for MFA</button>" in html
    assert client.get("/").headers["Location"] == "/login/verify"
    response = post_form(client, "/login/skip", {}, form_url="/login/verify")
    assert response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.event == "mfa.skipped"))


def test_mandatory_mode_has_no_skip_and_skip_is_refused(client, make_employee, mfa_on):
    mfa_on("mandatory")
    make_employee(username="ann")
    log_in(client, "ann")
    html = client.get("/login/verify").get_data(as_text=True)
    assert "Skip" not in html and ">Signup for MFA</button>" in html
    assert post_form(client, "/login/skip", {}, form_url="/login/verify").status_code == 403
    assert client.get("/").headers["Location"] == "/login/verify"


def test_signup_then_sign_in_with_a_code_once(client, make_employee, mfa_on, db, frozen_clock):
    mfa_on("mandatory")
    employee = make_employee(username="ann")
    log_in(client, "ann")
    key, codes = sign_up(client, frozen_clock)
    assert len(codes) == 10 and len(set(codes)) == 10
    # the secret is stored encrypted, not as typed into the app
    credential = db.session.scalar(db.select(MfaCredential).where(MfaCredential.employee_id == employee.id))
    assert credential.status == "active" and key not in credential.secret_encrypted
    assert secret_box.decrypt(credential.secret_encrypted) == key
    assert all(c not in {r.code_hash for r in db.session.scalars(db.select(RecoveryCode))} for c in codes)
    assert finish(client).headers["Location"] == "/"
    post_form(client, "/logout", {}, form_url="/")

    # next sign-in: a code is asked, Signup is not offered again
    frozen_clock.advance(timedelta(seconds=30))
    log_in(client, "ann")
    html = client.get("/login/verify").get_data(as_text=True)
    assert "Signup for MFA" not in html and "Skip" not in html and "Use a recovery code" in html
    code = totp_code(key)
    assert post_form(client, "/login/verify", {"code": code}).headers["Location"] == "/"
    post_form(client, "/logout", {}, form_url="/")

    # the same code again, in the same time step: refused with the same words as a wrong code
    log_in(client, "ann")
    replay = post_form(client, "/login/verify", {"code": code})
    wrong = post_form(client, "/login/verify", {"code": "000000" if code != "000000" else "111111"})
    for response in (replay, wrong):
        assert response.status_code == 200
        assert "That code is not valid" in response.get_data(as_text=True)


def test_a_code_of_an_earlier_step_is_refused_after_a_later_one(client, make_employee, mfa_on, frozen_clock):
    mfa_on("mandatory")
    make_employee(username="ann")
    log_in(client, "ann")
    key, _ = sign_up(client, frozen_clock)
    finish(client)
    post_form(client, "/logout", {}, form_url="/")
    frozen_clock.advance(timedelta(seconds=60))
    earlier = totp_code(key, at=frozen_clock.utcnow() - timedelta(seconds=30))  # within drift
    later = totp_code(key)
    log_in(client, "ann")
    assert post_form(client, "/login/verify", {"code": later}).headers["Location"] == "/"
    post_form(client, "/logout", {}, form_url="/")
    log_in(client, "ann")
    assert post_form(client, "/login/verify", {"code": earlier}).status_code == 200


def test_closing_signup_without_a_code_leaves_the_employee_not_enrolled(client, make_employee, mfa_on, db):
    mfa_on("optional")
    employee = make_employee(username="ann")
    log_in(client, "ann")
    post_form(client, "/login/signup", {}, form_url="/login/verify")
    html = client.get("/login/verify").get_data(as_text=True)
    assert ">Signup for MFA</button>" in html and ">Skip</button>" in html
    statuses = {c.status for c in db.session.scalars(
        db.select(MfaCredential).where(MfaCredential.employee_id == employee.id))}
    assert statuses == {"pending"}


def test_finish_without_a_confirmed_code_is_no_bypass(client, make_employee, mfa_on, frozen_clock):
    """An enrolled employee's pending session cannot use the signup's last step to skip the code."""
    mfa_on("mandatory")
    make_employee(username="ann")
    log_in(client, "ann")
    sign_up(client, frozen_clock)
    finish(client)
    post_form(client, "/logout", {}, form_url="/")
    log_in(client, "ann")
    assert finish(client).status_code == 403
    assert client.get("/").headers["Location"] == "/login/verify"


def test_recovery_code_signs_in_once_and_tells_how_many_remain(client, make_employee, mfa_on, frozen_clock, db):
    mfa_on("mandatory")
    make_employee(username="ann")
    log_in(client, "ann")
    _key, codes = sign_up(client, frozen_clock)
    finish(client)
    post_form(client, "/logout", {}, form_url="/")
    log_in(client, "ann")
    assert "Recovery code" in client.get("/login/verify?method=recovery").get_data(as_text=True)
    response = post_form(client, "/login/verify", {"method": "recovery", "code": codes[0].upper()},
                         form_url="/login/verify?method=recovery")
    assert response.headers["Location"] == "/"
    assert "9 recovery codes remain" in client.get("/").get_data(as_text=True)
    post_form(client, "/logout", {}, form_url="/")
    log_in(client, "ann")
    again = post_form(client, "/login/verify", {"method": "recovery", "code": codes[0]},
                      form_url="/login/verify?method=recovery")
    assert again.status_code == 200 and "That code is not valid" in again.get_data(as_text=True)


def test_wrong_codes_lock_the_second_step_and_count_across_sessions(client, app, make_employee, mfa_on,
                                                                     frozen_clock, db):
    mfa_on("mandatory")
    employee = make_employee(username="ann")
    log_in(client, "ann")
    key, _ = sign_up(client, frozen_clock)
    finish(client)
    post_form(client, "/logout", {}, form_url="/")
    for attempt in range(5):
        other = app.test_client()  # a new session does not reset the counter
        log_in(other, "ann")
        post_form(other, "/login/verify", {"code": ""} if attempt == 0 else {"code": "123456"})
    db.session.refresh(employee)
    assert employee.mfa_locked_until is not None
    other = app.test_client()
    log_in(other, "ann")
    response = post_form(other, "/login/verify", {"code": totp_code(key)})
    assert "Too many wrong codes" in response.get_data(as_text=True)
    events = [e.event for e in db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.id))]
    assert events.count("mfa.verify_failed") == 5 and "mfa.locked" in events


def test_pending_state_lapses_after_five_minutes(client, make_employee, mfa_on, frozen_clock):
    mfa_on("optional")
    make_employee(username="ann")
    log_in(client, "ann")
    frozen_clock.advance(timedelta(minutes=5, seconds=1))
    response = client.get("/login/verify")
    assert response.headers["Location"] == "/login"
    assert "not completed in time" in client.get("/login").get_data(as_text=True)
    assert client.get("/").headers["Location"].startswith("/login")


def test_session_identifier_changes_after_each_step(client, make_employee, mfa_on, frozen_clock, db):
    mfa_on("optional")
    make_employee(username="ann")
    log_in(client, "ann")
    with client.session_transaction() as s:
        pending = dict(s["pending"])
        assert "sid" not in s and set(pending) == {"employee_id", "token", "id", "since", "at", "next"}
        assert "correct horse battery" not in repr(pending)
    post_form(client, "/login/skip", {}, form_url="/login/verify")
    with client.session_transaction() as s:
        assert "pending" not in s and s["sid"]
        assert db.session.get(UserSession, s["sid"]) is not None


def test_sys_config_mfa_is_for_managers_and_audits_changes(client, make_employee, db):
    make_employee(username="cashier", status_level=4)
    make_employee(username="boss", status_level=5)
    log_in(client, "cashier")
    assert client.get("/sysconfig/mfa").status_code == 403
    post_form(client, "/logout", {}, form_url="/")
    log_in(client, "boss")
    page = client.get("/sysconfig/mfa").get_data(as_text=True)
    assert "SHA1 is the one every authenticator app supports" in page
    form = {"status": "on", "mode": "mandatory", "issuer": "Shop HQ", "digits": "8", "algorithm": "SHA256",
            "period": "30", "drift": "11", "failed_limit": "5", "lock_minutes": "15",
            "timeout_minutes": "120", "warning_minutes": "5", "timeout_applies": "mandatory"}
    refused = post_form(client, "/sysconfig/mfa", form)
    assert "Number must be between 0 and 10." in refused.get_data(as_text=True)
    assert settings.get("mfa.status") is False
    assert post_form(client, "/sysconfig/mfa", {**form, "drift": "2"}).status_code == 302
    assert (settings.get("mfa.status"), settings.get("mfa.totp.digits"), settings.get("mfa.totp.drift")) == (True, 8, 2)
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.event == "settings.changed"))
    assert event.details["mfa.mode"] == {"old": "optional", "new": "mandatory"}


def test_enrolment_keeps_its_parameters_when_defaults_change(client, make_employee, mfa_on, frozen_clock):
    mfa_on("mandatory", **{"mfa.totp.digits": 8, "mfa.totp.algorithm": "SHA512"})
    make_employee(username="ann")
    log_in(client, "ann")
    page = post_form(client, "/login/signup", {}, form_url="/login/verify").get_data(as_text=True)
    key = key_from_page(page)
    assert "8 digits, SHA512" in page
    post_form(client, "/login/signup/activate", {"code": totp_code(key, digits=8, algorithm="SHA512")},
              form_url="/login/verify")
    finish(client)
    post_form(client, "/logout", {}, form_url="/")
    settings.save({"mfa.totp.digits": 6, "mfa.totp.algorithm": "SHA1"})
    frozen_clock.advance(timedelta(seconds=30))
    log_in(client, "ann")
    code = totp_code(key, digits=8, algorithm="SHA512")
    assert post_form(client, "/login/verify", {"code": code}).headers["Location"] == "/"


def test_few_recovery_codes_are_announced_at_sign_in(client, make_employee, mfa_on, frozen_clock):
    mfa_on("mandatory")
    employee = make_employee(username="ann")
    log_in(client, "ann")
    key, codes = sign_up(client, frozen_clock)
    finish(client)
    post_form(client, "/logout", {}, form_url="/")


    for code in codes[:7]:
        assert mfa.verify(employee, "recovery", code).ok
    frozen_clock.advance(timedelta(seconds=30))
    log_in(client, "ann")
    post_form(client, "/login/verify", {"code": totp_code(key)})
    assert "Only 3 recovery codes are left" in client.get("/").get_data(as_text=True)


def test_a_code_for_one_employee_cannot_complete_another_employees_sign_in(app, make_employee, mfa_on,
                                                                           frozen_clock):
    mfa_on("mandatory")
    keys = {}
    for name in ("ann", "bob"):
        make_employee(username=name)
        browser = app.test_client()
        log_in(browser, name)
        keys[name], _ = sign_up(browser, frozen_clock)
    frozen_clock.advance(timedelta(seconds=30))
    bob = app.test_client()
    log_in(bob, "bob")
    response = post_form(bob, "/login/verify", {"code": totp_code(keys["ann"])})
    assert response.status_code == 200 and "That code is not valid" in response.get_data(as_text=True)
    assert post_form(bob, "/login/verify", {"code": totp_code(keys["bob"])}).headers["Location"] == "/"


def test_another_session_cannot_see_or_activate_a_signup_in_progress(app, make_employee, mfa_on, db,
                                                                     frozen_clock):
    mfa_on("mandatory")
    employee = make_employee(username="ann")
    victim, attacker = app.test_client(), app.test_client()
    log_in(victim, "ann")
    key = key_from_page(post_form(victim, "/login/signup", {}, form_url="/login/verify").get_data(as_text=True))
    log_in(attacker, "ann")  # knows the password only
    stolen = post_form(attacker, "/login/signup/activate", {"code": ""}, form_url="/login/verify")
    assert stolen.status_code == 403 and key not in stolen.get_data(as_text=True)
    # the victim's signup is unharmed; an empty code counts as a failed attempt
    empty = post_form(victim, "/login/signup/activate", {"code": ""}, form_url="/login/verify")
    assert "That code is not valid" in empty.get_data(as_text=True)
    db.session.refresh(employee)
    assert employee.mfa_failed_count == 1
    post_form(victim, "/login/signup/activate", {"code": totp_code(key)}, form_url="/login/verify")
    assert finish(victim).headers["Location"] == "/"
    assert finish(attacker).status_code == 403


def test_pending_state_ends_when_the_password_is_reset(app, client, make_employee, mfa_on, admin, db):
    mfa_on("optional")
    ann = make_employee(username="ann")
    log_in(client, "ann")
    assert client.get("/login/verify").status_code == 200
    set_password(ann, "a brand new passphrase", actor=admin)
    assert client.get("/login/verify").headers["Location"] == "/login"
    assert client.get("/").headers["Location"].startswith("/login")


def test_pending_state_cannot_be_kept_alive_past_fifteen_minutes(client, make_employee, mfa_on, frozen_clock):
    mfa_on("optional")
    make_employee(username="ann")
    log_in(client, "ann")
    for _ in range(3):
        frozen_clock.advance(timedelta(minutes=4))
        assert "<dialog" in post_form(client, "/login/signup", {}, form_url="/login/verify").get_data(True)
    frozen_clock.advance(timedelta(minutes=4))  # 4 minutes since the last step, 16 since the password
    response = client.get("/login/verify")
    assert response.headers["Location"] == "/login"
