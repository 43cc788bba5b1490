"""Codes sent by email (a real SMTP server, aiosmtpd) or SMS (a real HTTP server playing the
gateway) through the API: POST /api/token/code for POST /api/token, sent only after the password
and working once, only with the challenge it was sent for; POST /api/mfa/send for /api/mfa/verify,
working only for the token that asked. The browser sign-in's send limits hold."""
from datetime import timedelta

import pytest

from portal import settings
from portal.mfa import service as mfa
from portal.models import ApiToken, AuditEvent, MfaChallenge
from portal.services.api_tokens import MFA_REQUIRED, issue_token
from tests.integration.test_email_otp import last_code, signed_up_by_email
from tests.integration.test_sms_gateway import Gateway, configure
from tests.integration.test_sms_otp import NUMBER, sent_code

PASSWORD = "correct horse battery"


def call(client, path="/api/token", **fields):
    body = {"username": "ann", "password": PASSWORD, "service": "mobile_app"} | fields
    return client.post(path, json={k: v for k, v in body.items() if v is not None})


def send(client, method="email", **fields):
    return call(client, "/api/token/code", method=method, **fields)


def events(db, name):
    return db.session.scalars(db.select(AuditEvent).where(AuditEvent.event == name)).all()


@pytest.fixture
def email_ann(db, make_employee, smtp_server, frozen_clock):
    """Ann signed up for MFA by email; "Enable MFA for the mobile app" on."""
    settings.save({"mfa.status": True, "mfa.mode": "optional", "mfa.mobile_app": True, "mfa.methods.email": True,
                   "mfa.failed_limit": 5})
    ann = make_employee(username="ann", email="ann@example.com")
    signed_up_by_email(ann, smtp_server)
    frozen_clock.advance(timedelta(minutes=1))
    return ann


def test_an_emailed_code_gets_a_token_once(db, client, email_ann, smtp_server):
    refused = call(client)
    assert refused.status_code == 403 and refused.json["errorcode"] == "mfarequired"
    assert refused.json["error"] == MFA_REQUIRED and refused.json["methods"] == ["email", "recovery"]
    assert smtp_server == []  # asking for the token sends nothing by itself

    sent = send(client)
    assert sent.status_code == 200
    assert sent.json["method"] == "email" and sent.json["sent_to"] == "a•••@example.com"
    assert sent.json["valid_minutes"] == 5 and len(sent.json["challenge"]) >= 43
    [mail] = smtp_server
    assert mail["To"] == "ann@example.com" and PASSWORD not in mail.get_content()
    code = last_code(smtp_server)
    [challenge] = db.session.scalars(db.select(MfaChallenge).where(MfaChallenge.closed_at.is_(None))).all()
    assert sent.json["challenge"] not in challenge.binding and code not in challenge.code_hash

    issued = call(client, otp=code, method="email", challenge=sent.json["challenge"])
    assert issued.status_code == 200
    [token] = db.session.scalars(db.select(ApiToken)).all()
    assert token.mfa_verified
    assert [e.details for e in events(db, "mfa.code_sent")][-1] == {"method": "email", "purpose": "signin"}

    again = call(client, otp=code, method="email", challenge=sent.json["challenge"])
    assert again.status_code == 401 and again.json["errorcode"] == "invalidotp"


def test_a_sent_code_works_only_with_its_own_challenge(db, client, email_ann, smtp_server):
    sent = send(client).json
    code = last_code(smtp_server)
    other = call(client, otp=code, method="email", challenge="someone-elses-challenge")
    assert other.status_code == 401 and other.json["errorcode"] == "invalidotp"
    typed = call(client, otp=code)  # without its method: read as an authenticator app code
    assert typed.status_code == 401 and typed.json["errorcode"] == "invalidotp"
    assert db.session.scalars(db.select(ApiToken)).all() == []
    # the failures counted on the lock like any wrong code; the right call still works
    assert call(client, otp=code, method="email", challenge=sent["challenge"]).status_code == 200


def test_wrong_codes_lock_the_second_step_and_a_locked_employee_is_sent_nothing(db, client, email_ann,
                                                                                smtp_server):
    challenge = send(client).json["challenge"]
    answers = [call(client, otp="000000", method="email", challenge=challenge).json["errorcode"]
               for _ in range(5)]
    assert answers == ["invalidotp"] * 4 + ["accountlocked"]
    smtp_server.clear()
    locked = send(client)
    assert locked.status_code == 403 and locked.json["errorcode"] == "accountlocked"
    assert locked.json["retry_after"].endswith("Z") and smtp_server == []


def test_the_browsers_send_limits_hold(db, client, email_ann, smtp_server, frozen_clock):
    assert send(client).status_code == 200
    frozen_clock.advance(timedelta(seconds=10))
    soon = send(client)
    assert soon.status_code == 429 and soon.json["errorcode"] == "codealreadysent"
    retry_at = frozen_clock.utcnow() + timedelta(seconds=20)
    assert soon.json["retry_after"] == retry_at.isoformat(timespec="seconds") + "Z"
    assert len(smtp_server) == 1
    frozen_clock.advance(timedelta(seconds=20))
    assert send(client).status_code == 200 and len(smtp_server) == 2


def test_nothing_is_sent_without_the_password_or_to_a_disabled_service(db, client, email_ann, smtp_server):
    wrong = send(client, password="not the password")
    assert wrong.status_code == 401 and wrong.json["errorcode"] == "invalidlogin"
    unknown = send(client, username="nobody")
    assert unknown.status_code == 401 and unknown.json == wrong.json
    disabled = send(client, service="fax")
    assert disabled.status_code == 403 and disabled.json["errorcode"] == "servicenotavailable"
    assert smtp_server == [] and [e.details["purpose"] for e in events(db, "mfa.code_sent")] == ["signup"]


def test_a_method_the_employee_cannot_use_is_refused_with_the_ones_they_can(db, client, email_ann, smtp_server):
    sms = send(client, method="sms")
    assert sms.status_code == 400 and sms.json["errorcode"] == "methodnotavailable"
    assert sms.json["field"] == "method" and sms.json["methods"] == ["email", "recovery"]
    for method in ("totp", "carrier pigeon"):  # not a method that sends: refused before the password is checked
        wrong = send(client, method=method, password="not the password")
        assert wrong.status_code == 400 and wrong.json["errorcode"] == "invalidrequest"
        assert wrong.json["field"] == "method"
    assert smtp_server == []


@pytest.mark.parametrize(("fields", "field"), [({"method": "carrier pigeon", "otp": "123456"}, "method"),
                                               ({"method": "email", "otp": "123456"}, "challenge")])
def test_a_malformed_second_factor_is_a_bad_request(db, client, email_ann, fields, field):
    response = call(client, **fields)
    assert response.status_code == 400 and response.json["errorcode"] == "invalidrequest"
    assert response.json["field"] == field


def test_no_code_is_sent_when_none_is_asked(db, client, email_ann, make_employee, smtp_server):
    settings.save({"mfa.mobile_app": False})
    off = send(client)
    assert off.status_code == 409 and off.json["errorcode"] == "mfanotrequired"
    settings.save({"mfa.mobile_app": True})
    make_employee(username="bob", email="bob@example.com")  # not signed up, MFA optional
    unenrolled = send(client, username="bob")
    assert unenrolled.status_code == 409 and unenrolled.json["errorcode"] == "mfanotrequired"
    assert smtp_server == []


def test_an_employee_who_must_sign_up_first_is_told_so(db, client, email_ann, make_employee, smtp_server):
    settings.save({"mfa.mode": "mandatory"})
    make_employee(username="bob", email="bob@example.com")
    response = send(client, username="bob")
    assert response.status_code == 403 and response.json["errorcode"] == "mfarequired"
    assert response.json["hint"] == "Sign up for MFA in the back office first." and smtp_server == []
    asked = call(client, username="bob")  # the token itself, without a code: the same way forward
    assert asked.status_code == 403 and asked.json["hint"] == "Sign up for MFA in the back office first."


def test_a_new_code_voids_the_one_sent_before(db, client, email_ann, smtp_server, frozen_clock):
    first = send(client).json
    first_code = last_code(smtp_server)
    frozen_clock.advance(timedelta(seconds=31))
    second = send(client).json
    assert second["challenge"] != first["challenge"]
    voided = call(client, otp=first_code, method="email", challenge=first["challenge"])
    assert voided.status_code == 401 and voided.json["errorcode"] == "invalidotp"
    # the second code, tried with the first client's challenge: refused too
    crossed = call(client, otp=last_code(smtp_server), method="email", challenge=first["challenge"])
    assert crossed.status_code == 401
    assert call(client, otp=last_code(smtp_server), method="email", challenge=second["challenge"]).status_code == 200


def test_a_code_sent_to_a_browser_sign_in_gets_no_token(app, db, client, email_ann, smtp_server):
    from tests.conftest import log_in, post_form

    browser = app.test_client()
    log_in(browser, "ann")
    post_form(browser, "/login/send", {"method": "email"}, form_url="/login/verify")
    browser_code = last_code(smtp_server)
    for challenge in ("", "x" * 43):
        refused = call(client, otp=browser_code, method="email", challenge=challenge or None)
        assert refused.status_code in (400, 401)
    assert db.session.scalars(db.select(ApiToken)).all() == []


@pytest.mark.parametrize("callers", [6])
def test_codes_asked_for_at_the_same_moment_are_sent_once(app, db, email_ann, smtp_server, monkeypatch, callers):
    """The send limit (one per 30 s) holds for requests that arrive together: each counts the
    others' codes, not the state before them. The count is slowed down to widen the window."""
    import threading
    import time

    from portal.mfa.providers import sent_code as sent_code_module

    counted = sent_code_module.wait_before_next_send

    def slow_count(*args, **kwargs):
        time.sleep(0.2)
        return counted(*args, **kwargs)

    monkeypatch.setattr(sent_code_module, "wait_before_next_send", slow_count)
    barrier = threading.Barrier(callers)
    statuses = []

    def ask():
        client = app.test_client()
        barrier.wait()
        statuses.append(send(client).status_code)

    threads = [threading.Thread(target=ask) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200] + [429] * (callers - 1)
    assert len(smtp_server) == 1
    refused = [e for e in events(db, "api.token_refused") if e.details["reason"] == "codealreadysent"]
    assert len(refused) == callers - 1


@pytest.fixture
def sms_ann(db, make_employee, httpserver, frozen_clock):
    settings.save({"mfa.status": True, "mfa.mode": "mandatory", "mfa.mobile_app": True, "mfa.methods.sms": True})
    gateway = Gateway(httpserver)
    configure(url=gateway.url(), otp_template="Back Office code {code} ({minutes} min)")
    gateway.answer()
    ann = make_employee(username="ann", mobile_phone=NUMBER)
    credential = mfa.prepare(ann, method="sms", binding="signup-browser")
    assert mfa.activate(ann, credential.id, sent_code(gateway), binding="signup-browser")
    frozen_clock.advance(timedelta(minutes=1))
    return gateway


def test_an_sms_code_gets_a_token(db, client, sms_ann):
    sent = send(client, method="sms")
    assert sent.status_code == 200 and sent.json["sent_to"] == "+44•••••••123"
    assert sms_ann.received[-1]["form"]["to"] == [NUMBER]
    issued = call(client, otp=sent_code(sms_ann), method="sms", challenge=sent.json["challenge"])
    assert issued.status_code == 200


def test_a_failing_gateway_is_a_502_and_leaves_no_usable_code(db, client, sms_ann, frozen_clock):
    sms_ann.server.clear_all_handlers()
    sms_ann.answer(body="error", status=500)
    failed = send(client, method="sms")
    assert failed.status_code == 502 and failed.json["errorcode"] == "codenotsent"
    assert "SMS" in failed.json["error"]
    db.session.expire_all()
    assert all(c.closed_at is not None for c in db.session.scalars(db.select(MfaChallenge)))
    assert [e.details["method"] for e in events(db, "mfa.code_not_sent")] == ["sms"]


def test_a_code_sent_for_verify_works_once_and_only_for_the_token_that_asked(db, client, email_ann, smtp_server,
                                                                            frozen_clock):
    settings.save({"mfa.mobile_app": False})  # tokens by password alone, to call /api/mfa with
    first, second = ({"Authorization": f"Bearer {issue_token('ann', PASSWORD, 'mobile_app', None, '127.0.0.1').token}"}
                     for _ in range(2))
    sent = client.post("/api/mfa/send", headers=first, json={"method": "email"})
    assert sent.status_code == 200 and sent.json == {"method": "email", "sent_to": "a•••@example.com",
                                                     "valid_minutes": 5}
    code = last_code(smtp_server)
    other = client.post("/api/mfa/verify", headers=second, json={"method": "email", "code": code})
    assert other.status_code == 401 and other.json["errorcode"] == "invalidotp"
    own = client.post("/api/mfa/verify", headers=first, json={"method": "email", "code": code})
    assert own.status_code == 200 and own.json["method"] == "email"
    again = client.post("/api/mfa/verify", headers=first, json={"method": "email", "code": code})
    assert again.status_code == 401
