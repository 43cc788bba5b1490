"""SMS OTP in real Chromium: the code arrives at a real HTTP server playing the SMS gateway."""
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from portal import settings
from tests.integration.test_sms_gateway import Gateway, configure

pytestmark = pytest.mark.browser


def newest_code(gateway) -> str:
    return re.search(r"code (\d+) ", gateway.received[-1]["form"]["text"][0]).group(1)


def log_in(page):
    page.goto("/login")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()


def test_sign_up_for_sms_codes_and_sign_in_with_one(page, make_employee, httpserver, frozen_clock):
    gateway = Gateway(httpserver)
    gateway.answer()
    configure(url=gateway.url(), otp_template="Back Office code {code} ({minutes} min)")
    settings.save({"mfa.status": True, "mfa.mode": "mandatory", "mfa.methods.sms": True})
    make_employee(username="sam", full_name="Sam Sms", mobile_phone="+447700900123")

    log_in(page)
    page.get_by_label("SMS").check()
    page.get_by_role("button", name="Signup for MFA").click()
    dialog = page.get_by_role("dialog", name="Signup for MFA")
    expect(dialog.get_by_text("We sent a code to your mobile phone +44•••••••123")).to_be_visible()
    assert gateway.received[-1]["form"]["to"] == ["+447700900123"]
    dialog.get_by_label("Code from the SMS").fill(newest_code(gateway))
    dialog.get_by_role("button", name="Activate").click()
    expect(dialog.locator("#recovery-codes li")).to_have_count(10)
    dialog.get_by_label("I have saved my recovery codes").check()
    dialog.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Welcome, Sam Sms")).to_be_visible()
    page.get_by_role("button", name="Log out").click()

    frozen_clock.advance(timedelta(seconds=31))  # one code per 30 seconds per employee
    log_in(page)
    page.get_by_role("button", name="Send code by SMS").click()
    expect(page.get_by_text("We sent a code to +44•••••••123")).to_be_visible()
    page.get_by_label("Code from the SMS").fill(newest_code(gateway))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Welcome, Sam Sms")).to_be_visible()
