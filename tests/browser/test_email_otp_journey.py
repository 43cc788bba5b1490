"""Email OTP in real Chromium: signup and sign-in with codes read from a real SMTP server."""
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from portal import settings

pytestmark = pytest.mark.browser
CODE_RE = re.compile(r"Your Back Office code is (\d+)\.")


def newest_code(smtp_server) -> str:
    return CODE_RE.search(smtp_server[-1].get_content()).group(1)


def log_in(page):
    page.goto("/login")
    page.get_by_label("Username").fill("emma")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()


def test_sign_up_for_email_codes_and_sign_in_with_one(page, make_employee, smtp_server, frozen_clock):
    settings.save({"mfa.status": True, "mfa.mode": "mandatory", "mfa.methods.email": True})
    make_employee(username="emma", full_name="Emma Email", email="emma@example.com")
    log_in(page)
    page.get_by_label("Email").check()
    page.get_by_role("button", name="Signup for MFA").click()
    dialog = page.get_by_role("dialog", name="Signup for MFA")
    expect(dialog.get_by_text("We sent a code to your email address e•••@example.com")).to_be_visible()
    dialog.get_by_label("Code from the email").fill(newest_code(smtp_server))
    dialog.get_by_role("button", name="Activate").click()
    expect(dialog.locator("#recovery-codes li")).to_have_count(10)
    dialog.get_by_label("I have saved my recovery codes").check()
    dialog.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Welcome, Emma Email")).to_be_visible()
    page.get_by_role("button", name="Log out").click()

    frozen_clock.advance(timedelta(seconds=31))  # one code per 30 seconds per employee
    log_in(page)
    page.get_by_role("button", name="Send code by email").click()
    expect(page.get_by_text("We sent a code to e•••@example.com")).to_be_visible()
    page.get_by_label("Code from the email").fill(newest_code(smtp_server))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Welcome, Emma Email")).to_be_visible()
