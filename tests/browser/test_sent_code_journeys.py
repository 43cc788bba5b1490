"""Email and SMS OTP in real Chromium: signup and sign-in with codes read where they arrive,
from a real SMTP server (aiosmtpd) or a real HTTP server playing the SMS gateway."""
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from portal import settings
from tests.integration.test_sms_gateway import Gateway, configure

pytestmark = pytest.mark.browser


@dataclass
class Channel:
    method: str  # the setting's name: mfa.methods.<method>
    label: str  # the method's radio label at signup
    name: str  # "email" / "SMS" in the page's words
    sent_to: str  # how the page names the destination
    shown_as: str  # the masked destination
    newest_code: object


@pytest.fixture(params=["email", "sms"])
def channel(request, make_employee):
    if request.param == "email":
        mailbox = request.getfixturevalue("smtp_server")
        make_employee(username="ann", full_name="Ann Sent", email="ann@example.com")
        read = lambda: re.search(r"code is (\d+)\.", mailbox[-1].get_content()).group(1)  # noqa: E731
        return Channel("email", "Email", "email", "your email address", "a•••@example.com", read)
    gateway = Gateway(request.getfixturevalue("httpserver"))
    gateway.answer()
    configure(url=gateway.url(), otp_template="Back Office code {code} ({minutes} min)")
    make_employee(username="ann", full_name="Ann Sent", mobile_phone="+447700900123")
    read = lambda: re.search(r"code (\d+) ", gateway.received[-1]["form"]["text"][0]).group(1)  # noqa: E731
    return Channel("sms", "SMS", "SMS", "your mobile phone", "+44•••••••123", read)


def log_in(page):
    page.goto("/login")
    page.get_by_label("Username").fill("ann")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()


def test_sign_up_for_sent_codes_and_sign_in_with_one(page, channel, frozen_clock):
    settings.save({"mfa.status": True, "mfa.mode": "mandatory", f"mfa.methods.{channel.method}": True})
    log_in(page)
    page.get_by_label(channel.label, exact=True).check()
    page.get_by_role("button", name="Signup for MFA").click()
    dialog = page.get_by_role("dialog", name="Signup for MFA")
    expect(dialog.get_by_text(f"We sent a code to {channel.sent_to} {channel.shown_as}")).to_be_visible()
    dialog.get_by_label(f"Code from the {channel.name}").fill(channel.newest_code())
    dialog.get_by_role("button", name="Activate").click()
    expect(dialog.locator("#recovery-codes li")).to_have_count(10)
    dialog.get_by_label("I have saved my recovery codes").check()
    dialog.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Welcome, Ann Sent")).to_be_visible()
    page.get_by_role("button", name="Log out").click()

    frozen_clock.advance(timedelta(seconds=31))  # one code per 30 seconds per employee
    log_in(page)
    page.get_by_role("button", name=f"Send code by {channel.name}").click()
    expect(page.get_by_text(f"We sent a code to {channel.shown_as}")).to_be_visible()
    page.get_by_label(f"Code from the {channel.name}").fill(channel.newest_code())
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Welcome, Ann Sent")).to_be_visible()
