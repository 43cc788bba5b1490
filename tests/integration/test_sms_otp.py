"""SMS OTP end to end through a real HTTP server playing the SMS gateway (pytest-httpserver)."""
import re
from datetime import timedelta

import pytest

from portal import settings
from portal.mfa.methods import active_credentials
from portal.models import MfaChallenge
from tests.conftest import log_in, post_form
from tests.integration.test_sms_gateway import Gateway, configure

NUMBER = "+447700900123"


@pytest.fixture
def sms(db, httpserver):
    settings.save({"mfa.status": True, "mfa.mode": "mandatory", "mfa.methods.sms": True, "mfa.failed_limit": 100})
    gateway = Gateway(httpserver)
    configure(url=gateway.url(), otp_template="Back Office code {code} ({minutes} min)")
    return gateway


def sent_code(gateway) -> str:
    return re.search(r"code (\d+) ", gateway.received[-1]["form"]["text"][0]).group(1)


def test_signup_and_sign_in_by_sms(client, make_employee, sms, frozen_clock):
    sms.answer()
    ann = make_employee(username="ann", mobile_phone=NUMBER)
    log_in(client, "ann")
    page = post_form(client, "/login/signup", {"method": "sms"}, form_url="/login/verify")
    assert "We sent a code to your mobile phone +44•••••••123" in page.get_data(as_text=True)
    assert sms.received[-1]["form"]["to"] == [NUMBER]  # only ever the registered number
    activated = post_form(client, "/login/signup/activate", {"code": sent_code(sms)}, form_url="/login/verify")
    assert "recovery-codes" in activated.get_data(as_text=True)
    post_form(client, "/login/signup/finish", {"saved": "y"}, form_url="/login/verify")
    assert [c.provider for c in active_credentials(ann.id)] == ["sms"]
    post_form(client, "/logout", {}, form_url="/")

    frozen_clock.advance(timedelta(minutes=1))
    log_in(client, "ann")
    assert ">Send code by SMS</button>" in client.get("/login/verify").get_data(as_text=True)
    post_form(client, "/login/send", {"method": "sms"}, form_url="/login/verify")
    assert "Code from the SMS" in client.get("/login/verify?method=sms").get_data(as_text=True)
    response = post_form(client, "/login/verify", {"method": "sms", "code": sent_code(sms)},
                         form_url="/login/verify?method=sms")
    assert response.headers["Location"] == "/"


def test_a_failing_gateway_gives_the_clear_message_and_leaves_no_usable_code(client, make_employee, sms, db):
    sms.answer(body="error", status=500)
    make_employee(username="ann", mobile_phone=NUMBER)
    log_in(client, "ann")
    page = post_form(client, "/login/signup", {"method": "sms"}, form_url="/login/verify")
    assert page.status_code == 400
    assert "We couldn&#39;t send the code by SMS. Try another method or contact your administrator." in \
        page.get_data(as_text=True)
    db.session.rollback()
    assert all(c.closed_at is not None for c in db.session.scalars(db.select(MfaChallenge)))


def test_sms_is_offered_only_to_employees_with_a_mobile_number(client, make_employee, sms):
    make_employee(username="nophone", mobile_phone=None)
    log_in(client, "nophone")
    assert ">SMS</label>" not in client.get("/login/verify").get_data(as_text=True)
    refused = post_form(client, "/login/signup", {"method": "sms"}, form_url="/login/verify")
    assert refused.status_code == 400
