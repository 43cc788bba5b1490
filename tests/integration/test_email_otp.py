"""Email OTP end to end through a real SMTP server (aiosmtpd): signup, sign-in, resend, limits."""
import re
from datetime import timedelta

import pytest

from portal import settings
from portal.mfa import service as mfa
from portal.mfa.methods import active_credentials
from tests.conftest import log_in, post_form

CODE_RE = re.compile(r"Your Back Office code is (\d+)\.")


@pytest.fixture
def email_mfa(db):
    settings.save({"mfa.status": True, "mfa.mode": "mandatory", "mfa.methods.email": True,
                   "mfa.failed_limit": 100})


def last_code(smtp_server) -> str:
    return CODE_RE.search(smtp_server[-1].get_content()).group(1)


def signed_up_by_email(employee, smtp_server) -> list[str]:
    """Sign the employee up for email codes through the MFA service, as the Signup popup does,
    and empty the mailbox; returns the recovery codes."""
    credential = mfa.prepare(employee, method="email", binding="signup-browser")
    codes = mfa.activate(employee, credential.id, last_code(smtp_server), binding="signup-browser")
    assert codes
    smtp_server.clear()
    return codes


def sign_up_by_email(client, smtp_server):
    page = post_form(client, "/login/signup", {"method": "email"}, form_url="/login/verify")
    assert "We sent a code to your email address a•••@example.com" in page.get_data(as_text=True)
    response = post_form(client, "/login/signup/activate", {"code": last_code(smtp_server)},
                         form_url="/login/verify")
    assert "recovery-codes" in response.get_data(as_text=True)
    return post_form(client, "/login/signup/finish", {"saved": "y"}, form_url="/login/verify")


def send(client):
    return post_form(client, "/login/send", {"method": "email"}, form_url="/login/verify")


def test_signup_by_email_then_sign_in_with_an_emailed_code(client, make_employee, email_mfa, smtp_server,
                                                           frozen_clock, db):
    ann = make_employee(username="ann", email="ann@example.com")
    log_in(client, "ann")
    page = client.get("/login/verify").get_data(as_text=True)
    assert ">Authenticator app</label>" in page and ">Email</label>" in page
    assert sign_up_by_email(client, smtp_server).headers["Location"] == "/"
    assert [c.provider for c in active_credentials(ann.id)] == ["email"]
    assert smtp_server[0]["To"] == "ann@example.com"
    post_form(client, "/logout", {}, form_url="/")

    frozen_clock.advance(timedelta(minutes=1))
    log_in(client, "ann")
    page = client.get("/login/verify").get_data(as_text=True)
    assert ">Send code by email</button>" in page and 'name="code"' not in page
    assert send(client).status_code == 302
    page = client.get("/login/verify?method=email").get_data(as_text=True)
    assert "We sent a code to a•••@example.com. It is valid for 5 minutes." in page
    assert "Code from the email" in page and ">Resend the code</button>" in page
    code = last_code(smtp_server)
    assert "correct horse" not in smtp_server[-1].get_content()
    response = post_form(client, "/login/verify", {"method": "email", "code": code},
                         form_url="/login/verify?method=email")
    assert response.headers["Location"] == "/"
    post_form(client, "/logout", {}, form_url="/")

    # the same code again: refused
    log_in(client, "ann")
    reused = post_form(client, "/login/verify", {"method": "email", "code": code},
                       form_url="/login/verify?method=email")
    assert reused.status_code == 200 and "That code is not valid" in reused.get_data(as_text=True)


@pytest.fixture
def enrolled_ann(app, make_employee, email_mfa, smtp_server, frozen_clock):
    make_employee(username="ann", email="ann@example.com")
    browser = app.test_client()
    log_in(browser, "ann")
    sign_up_by_email(browser, smtp_server)
    frozen_clock.advance(timedelta(minutes=1))


def test_expired_code_fails(client, enrolled_ann, smtp_server, frozen_clock):
    settings.save({"mfa.email.validity_minutes": 2})
    log_in(client, "ann")
    send(client)
    frozen_clock.advance(timedelta(minutes=2, seconds=1))
    response = post_form(client, "/login/verify", {"method": "email", "code": last_code(smtp_server)},
                         form_url="/login/verify?method=email")
    assert "That code is not valid" in response.get_data(as_text=True)


def test_attempt_limit_voids_the_code(client, enrolled_ann, smtp_server):
    settings.save({"mfa.email.max_attempts": 3})
    log_in(client, "ann")
    send(client)
    code = last_code(smtp_server)
    for _ in range(3):
        post_form(client, "/login/verify", {"method": "email", "code": "000000" if code != "000000" else "111111"},
                  form_url="/login/verify?method=email")
    response = post_form(client, "/login/verify", {"method": "email", "code": code},
                         form_url="/login/verify?method=email")
    assert "That code is not valid" in response.get_data(as_text=True)


def test_resend_waits_30_seconds_and_voids_the_previous_code(client, enrolled_ann, smtp_server, frozen_clock):
    log_in(client, "ann")
    send(client)
    first = last_code(smtp_server)
    too_soon = send(client)
    assert "You can ask for another in 30 seconds" in client.get(too_soon.headers["Location"]).get_data(True)
    frozen_clock.advance(timedelta(seconds=31))
    send(client)
    second = last_code(smtp_server)
    old = post_form(client, "/login/verify", {"method": "email", "code": first}, form_url="/login/verify?method=email")
    assert first == second or "That code is not valid" in old.get_data(as_text=True)
    assert post_form(client, "/login/verify", {"method": "email", "code": second},
                     form_url="/login/verify?method=email").headers["Location"] == "/"


def test_at_most_five_codes_per_fifteen_minutes(client, enrolled_ann, smtp_server, frozen_clock):
    log_in(client, "ann")
    sent_before = len(smtp_server)
    for _ in range(6):
        send(client)
        frozen_clock.advance(timedelta(seconds=31))
    assert len(smtp_server) - sent_before == 4  # the signup code counts among the last 15 minutes


def test_a_code_works_only_in_the_browser_that_asked_for_it(app, enrolled_ann, smtp_server):
    asked, other = app.test_client(), app.test_client()
    log_in(asked, "ann")
    send(asked)
    log_in(other, "ann")
    response = post_form(other, "/login/verify", {"method": "email", "code": last_code(smtp_server)},
                         form_url="/login/verify")
    assert response.status_code == 200 and other.get("/").headers["Location"] == "/login/verify"


def test_a_switched_off_method_sends_the_employee_to_recovery_codes(client, enrolled_ann, smtp_server):
    settings.save({"mfa.methods.email": False})
    log_in(client, "ann")
    page = client.get("/login/verify").get_data(as_text=True)
    assert "Send code by email" not in page and "Use a recovery code" in page
    assert "The method you signed up with is switched off" in page
    assert "Signup for MFA" not in page
    assert send(client).status_code == 302
    assert len([m for m in smtp_server if "code is" in m.get_content()]) == 1  # only the signup code


def test_sys_config_mfa_methods(client, make_employee, db):
    make_employee(username="boss", status_level=5)
    log_in(client, "boss")
    page = client.get("/sysconfig/mfa-methods").get_data(as_text=True)
    assert "NIST SP 800-63B does not accept email" in page
    form = {"totp": "y", "email": "y", "email_length": "6", "email_validity_minutes": "5",
            "email_max_attempts": "5", "email_subject": "Code {code}", "email_body": "Hi {name}, {code} {foo}",
            "sms_length": "6", "sms_validity_minutes": "5", "sms_max_attempts": "5"}
    refused = post_form(client, "/sysconfig/mfa-methods", form)
    assert "Unknown placeholder {foo}" in refused.get_data(as_text=True)
    assert settings.get("mfa.methods.email") is False
    none = post_form(client, "/sysconfig/mfa-methods", {**form, "totp": "", "email": "", "email_body": "{code}"})
    assert "Enable at least one method" in none.get_data(as_text=True)
    ok = post_form(client, "/sysconfig/mfa-methods", {**form, "email_body": "Hi {name}: {code} ({minutes} min)"})
    assert ok.status_code == 302
    assert settings.get("mfa.methods.email") is True and settings.get("mfa.email.subject") == "Code {code}"
