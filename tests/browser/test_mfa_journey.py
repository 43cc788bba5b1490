"""MFA in real Chromium: the QR code read by zbarimg like a phone, codes made by oathtool."""
import os
import re
import shutil
import subprocess
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from portal import clock, settings
from portal.mfa import service as mfa
from tests.authenticator import totp_code

pytestmark = pytest.mark.browser


def read_qr(png_path: str) -> str:
    """Decode the QR code in a screenshot with Debian's zbarimg, as a phone's camera would."""
    zbarimg = shutil.which("zbarimg")
    if zbarimg is None:
        message = "zbarimg not found (apt-get install -y zbar-tools)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    out = subprocess.run([zbarimg, "--quiet", "--raw", png_path], capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.fixture
def at_noon():
    """The live server shares this process's clock: freeze it so oathtool and the portal agree exactly."""
    clock.freeze(datetime(2026, 11, 27, 12, 0, 0))
    yield clock


def log_in(page, username, password="correct horse battery"):
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_optional_mode_skip(page, make_employee):
    settings.save({"mfa.status": True, "mfa.mode": "optional"})
    make_employee(username="opt", full_name="Olga Optional")
    log_in(page, "opt")
    expect(page.get_by_role("heading", name="One-time password")).to_be_visible()
    expect(page.get_by_role("button", name="Signup for MFA")).to_be_visible()
    page.get_by_role("button", name="Skip").click()
    expect(page.get_by_role("heading", name="Welcome, Olga Optional")).to_be_visible()


def test_mandatory_signup_with_a_phone_then_codes_and_recovery(page, make_employee, at_noon, tmp_path):
    settings.save({"mfa.status": True, "mfa.mode": "mandatory"})
    make_employee(username="mand", full_name="Max Mandatory")
    log_in(page, "mand")
    expect(page.get_by_role("button", name="Skip")).to_have_count(0)
    page.goto("/")  # any other page sends the employee back to the code screen
    expect(page).to_have_url(re.compile(r"/login/verify$"))

    page.get_by_role("button", name="Signup for MFA").click()
    dialog = page.get_by_role("dialog", name="Signup for MFA")
    expect(dialog).to_be_visible()
    qr_png = str(tmp_path / "qr.png")
    dialog.locator("figure.qr-code").screenshot(path=qr_png)
    uri = read_qr(qr_png)
    parts = urlsplit(uri)
    query = parse_qs(parts.query)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert query["issuer"] == ["Back Office"] and parts.path.endswith(":mand")
    secret = query["secret"][0]
    # the key typed by hand is the same as the one in the QR code
    assert dialog.locator("#mfa-key").inner_text().replace(" ", "") == secret

    dialog.get_by_label("Code from the app").fill(totp_code(secret))
    dialog.get_by_role("button", name="Activate").click()
    codes_dialog = page.get_by_role("dialog", name="Signup for MFA")
    expect(codes_dialog.get_by_text("Your authenticator app is now linked.")).to_be_visible()
    codes = codes_dialog.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    expect(codes_dialog.get_by_role("button", name="Download")).to_be_visible()
    codes_dialog.get_by_label("I have saved my recovery codes").check()
    codes_dialog.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Welcome, Max Mandatory")).to_be_visible()
    page.get_by_role("button", name="Log out").click()

    # sign in again with a fresh code from the app; no Signup is offered any more
    at_noon.advance(timedelta(seconds=30))
    log_in(page, "mand")
    expect(page.get_by_role("button", name="Signup for MFA")).to_have_count(0)
    page.get_by_label("One-time password").fill(totp_code(secret))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Welcome, Max Mandatory")).to_be_visible()
    page.get_by_role("button", name="Log out").click()

    # a recovery code signs in once, and not twice
    for attempt in range(2):
        log_in(page, "mand")
        page.get_by_role("link", name="Use a recovery code").click()
        page.get_by_label("Recovery code").fill(codes[0])
        page.get_by_role("button", name="Verify").click()
        if attempt == 0:
            expect(page.get_by_text("9 recovery codes remain")).to_be_visible()
            page.get_by_role("button", name="Log out").click()
        else:
            expect(page.get_by_text("That code is not valid")).to_be_visible()
            page.get_by_role("button", name="Cancel").click()

    # an administrator resets Max's MFA from Employee maintenance › Edit; Max is offered Signup again
    boss = make_employee(username="boss", full_name="Bea Boss", status_level=9)
    boss_enrolment = mfa.prepare(boss)
    boss_key = boss_enrolment.secret
    mfa.activate(boss, boss_enrolment.credential.id, totp_code(boss_key))
    at_noon.advance(timedelta(seconds=30))
    log_in(page, "boss")
    page.get_by_label("One-time password").fill(totp_code(boss_key))
    page.get_by_role("button", name="Verify").click()
    page.goto("/employees/?q=mand")
    page.get_by_role("link", name="Edit mand").click()
    expect(page.get_by_text("Enrolled since")).to_be_visible()
    page.get_by_label("Reason").fill("lost phone")
    page.get_by_label("I have checked who is asking").check()
    page.get_by_role("button", name="Reset MFA").click()
    expect(page.get_by_text("MFA has been reset for mand")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    log_in(page, "mand")
    expect(page.get_by_role("button", name="Signup for MFA")).to_be_visible()
    expect(page.get_by_label("One-time password")).to_have_count(0)
