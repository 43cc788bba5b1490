"""Linking a POS device as an employee whose second factor is a code sent by email (a real SMTP
server, aiosmtpd): "Send code by email" in the link popup (POST /pos/api/link/code), then the
link with the code, its method and the challenge. Nothing about terminals is said before the
password, the code works once and only with its challenge, and the sign-in's send limits hold."""
from datetime import timedelta

import pytest

from portal import settings
from portal.models import PosTerminal
from tests.integration.test_email_otp import last_code, signed_up_by_email
from tests.integration.test_pos_calls import PASSWORD, call, events, link, make_terminal


def send(client, method="email", username="mona", key="SHOP1-TILL1", password=PASSWORD):
    return call(client, "link/code", {"username": username, "password": password, "terminal_key": key,
                                      "method": method})


@pytest.fixture
def mona(db, make_employee, smtp_server, frozen_clock):
    """Mona, a manager signed up for MFA by email only, and the till she may link."""
    settings.save({"mfa.status": True, "mfa.mode": "optional", "mfa.methods.email": True, "mfa.failed_limit": 5})
    make_terminal(db, "Till 1", "SHOP1-TILL1")
    employee = make_employee(username="mona", full_name="Mona Manager", status_level=5, email="mona@example.com")
    signed_up_by_email(employee, smtp_server)
    frozen_clock.advance(timedelta(minutes=1))
    return employee


def test_an_emailed_code_links_the_device(db, client, mona, smtp_server):
    asked = link(client, username="mona")
    assert asked.status_code == 401 and asked.json["errorcode"] == "mfarequired"
    assert asked.json["methods"] == ["email", "recovery"] and "sent to you" in asked.json["error"]

    sent = send(client)
    assert sent.status_code == 200
    assert sent.json["sent_to"] == "m•••@example.com" and sent.json["valid_minutes"] == 5
    [mail] = smtp_server
    assert mail["To"] == "mona@example.com"
    code = last_code(smtp_server)

    linked = link(client, username="mona", otp=code, method="email", challenge=sent.json["challenge"])
    assert linked.status_code == 200 and linked.json["terminal"]["key"] == "SHOP1-TILL1"
    db.session.expire_all()
    assert db.session.scalar(db.select(PosTerminal.linked_by_id)) == mona.id


def test_the_code_works_only_with_its_challenge_and_once(db, client, mona, smtp_server):
    sent = send(client).json
    code = last_code(smtp_server)
    forged = link(client, username="mona", otp=code, method="email", challenge="guessed")
    assert forged.status_code == 401 and forged.json["errorcode"] == "invalidotp"
    assert link(client, username="mona", otp=code, method="email", challenge=sent["challenge"]).status_code == 200
    # the terminal is linked now; another till, the same code: spent
    make_terminal(db, "Till 2", "SHOP1-TILL2")
    again = link(client, username="mona", key="SHOP1-TILL2", otp=code, method="email", challenge=sent["challenge"])
    assert again.status_code == 401 and again.json["errorcode"] == "invalidotp"


def test_nothing_is_sent_or_told_without_the_password(db, client, mona, smtp_server):
    wrong = send(client, password="not the password", key="NO-SUCH-TILL")
    unknown = send(client, username="nobody", key="NO-SUCH-TILL")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json == {"error": "Wrong username or password.", "errorcode": "invalidlogin",
                                          "field": "password"}
    assert smtp_server == []
    assert [e.details["reason"] for e in events(db, "pos.link_failed")] == ["wrong login", "wrong login"]


def test_send_limits_and_refusals(db, client, mona, make_employee, smtp_server, frozen_clock):
    assert send(client).status_code == 200
    soon = send(client)
    assert soon.status_code == 429 and soon.json["errorcode"] == "codealreadysent"
    assert soon.json["retry_after_seconds"] == 30 and "30 seconds" in soon.json["error"]
    sms = send(client, method="sms")
    assert sms.status_code == 400 and sms.json["errorcode"] == "methodnotavailable"
    assert sms.json["methods"] == ["email", "recovery"] and sms.json["field"] == "otp"
    make_employee(username="carl", status_level=1)  # not signed up, MFA optional: no code is asked of him
    assert send(client, username="carl").json["errorcode"] == "mfanotrequired"
    assert len(smtp_server) == 1


def test_a_locked_second_step_is_sent_nothing(db, client, mona, smtp_server):
    for _ in range(5):
        link(client, username="mona", otp="000000")
    locked = send(client)
    assert locked.status_code == 403 and locked.json["errorcode"] == "accountlocked"
    assert "Too many wrong codes" in locked.json["error"] and smtp_server == []


@pytest.mark.parametrize("extra", [{"method": "email"}, {"method": "pigeon", "challenge": "x"}])
def test_a_sent_code_without_its_challenge_or_an_unknown_method_is_a_bad_request(db, client, mona, extra):
    response = link(client, username="mona", otp="123456", **extra)
    assert response.status_code == 400 and response.json["errorcode"] == "invalidrequest"
    assert response.json["field"] == "otp"


def test_a_code_sent_to_the_link_popup_gets_no_api_token(db, client, mona, smtp_server):
    settings.save({"mfa.mobile_app": True})
    sent = send(client).json
    code = last_code(smtp_server)
    token = client.post("/api/token", json={"username": "mona", "password": PASSWORD, "service": "mobile_app",
                                            "otp": code, "method": "email", "challenge": sent["challenge"]})
    assert token.status_code == 401 and token.json["errorcode"] == "invalidotp"
    # it still links the device it was sent for (a wrong code elsewhere does not void it)
    assert link(client, username="mona", otp=code, method="email", challenge=sent["challenge"]).status_code == 200


def test_send_refusals_are_audited(db, client, mona, make_employee, smtp_server):
    assert send(client).status_code == 200
    assert send(client).status_code == 429
    assert send(client, method="sms").status_code == 400
    reasons = [e.details["reason"] for e in events(db, "pos.link_failed")]
    assert reasons == ["code already sent", "code method not available"]
