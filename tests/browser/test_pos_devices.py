"""The Web POS device page in real Chromium: two browser contexts are two physical devices,
each with its own local storage (the link and the cache session ID) and cookies."""
import re
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import expect

from portal import clock, settings
from portal.extensions import db
from portal.mfa import service as mfa
from portal.models import PosClientLog
from portal.services import terminals
from portal.services.terminals import TerminalData
from tests.authenticator import totp_code
from tests.integration.test_email_otp import last_code, signed_up_by_email
from tests.integration.test_page_markup import assert_well_formed

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"
LINK_POPUP = "Link this device to a POS terminal"


@pytest.fixture
def till(admin, make_employee):
    """Till 1, which every employee of status level 1 or more may use, and Carl who works there."""
    make_employee(username="carl", full_name="Carl Cashier", status_level=1)
    return terminals.create_terminal(TerminalData(name="Till 1", store="High Street", key_identifier="TILL-0001",
                                                  min_status_level=1), admin)


@pytest.fixture
def new_device(browser, live_server):
    """new_device() opens a fresh browser context (another physical device) and its page.

    At the end the calls still on their way (a log record sent as the test ends) are answered
    before the devices close, so none reaches the server while the next test sets up."""
    devices = []
    in_flight = set()
    page_errors = []

    def open_device():
        context = browser.new_context(base_url=live_server)
        context.set_default_timeout(10_000)
        context.on("request", lambda request: in_flight.add(request) if "/pos/api/" in request.url else None)
        context.on("requestfinished", lambda request: in_flight.discard(request))
        context.on("requestfailed", lambda request: in_flight.discard(request))
        page = context.new_page()
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        page.on("console", lambda message: page_errors.append(message.text)
                if "Content Security Policy" in message.text else None)
        devices.append(page)
        return page

    yield open_device
    for page in devices:
        page.evaluate("1")  # a round trip: calls the page has made by now are known here
    for request in list(in_flight):
        request.response()  # waits for the server's answer
    for page in devices:
        page.context.close()
    assert not page_errors, "script errors or CSP violations on the page"


def link_popup(page):
    return page.get_by_role("dialog", name=LINK_POPUP)


def fill_link(page, key="TILL-0001", username="carl", password=PASSWORD):
    popup = link_popup(page)
    expect(popup).to_be_visible()
    popup.get_by_label("Username").fill(username)
    popup.get_by_label("Password", exact=True).fill(password)
    popup.get_by_label("Terminal Key Identifier").fill(key)
    return popup


def press_link(page):
    """Click "Link device" and return the server's answer to it."""
    with page.expect_response(lambda r: r.url.endswith("/pos/api/link")) as answer:
        link_popup(page).get_by_role("button", name="Link device").click()
    return answer.value


def link(page, key="TILL-0001", username="carl", password=PASSWORD):
    fill_link(page, key, username, password)
    return press_link(page)


def login_window(page, name="Till 1"):
    return page.get_by_role("region", name=name)


def cache_session_id(page) -> str:
    shown = page.locator("#pos-cache-session-id")
    expect(shown).to_have_text(re.compile(r"^[0-9a-f-]{36}$"))
    return shown.inner_text()


def sign_in(page, username="carl", password=PASSWORD):
    window = login_window(page)
    window.get_by_label("Username").fill(username)
    window.get_by_label("Password", exact=True).fill(password)
    with page.expect_response(lambda r: r.url.endswith("/pos/api/login")) as answer:
        window.get_by_role("button", name="Log in").click()
    return answer.value


def test_page_markup(new_device, till):
    device = new_device()
    device.goto("/pos")
    expect(link_popup(device)).to_be_visible()
    assert_well_formed(device.content(), "/pos")
    # (Chromium with scripts disabled by Playwright still parses <noscript> as if they ran)
    assert "The Web POS needs JavaScript and local storage" in device.locator("noscript").inner_text()
    link(device)
    expect(login_window(device)).to_be_visible()
    assert_well_formed(device.content(), "/pos (login window)")


def test_one_device_per_terminal_stays_linked_and_signs_in(new_device, till):
    device_a = new_device()
    device_a.goto("/pos")
    assert link(device_a).status == 200
    expect(link_popup(device_a)).to_be_hidden()
    expect(login_window(device_a)).to_be_visible()
    expect(login_window(device_a).get_by_text("Store: High Street")).to_be_visible()

    # a second device is refused for the same terminal, the message beside the key
    device_b = new_device()
    device_b.goto("/pos")
    assert link(device_b).status == 409
    key_field = link_popup(device_b).get_by_label("Terminal Key Identifier")
    expect(key_field).to_have_accessible_description(re.compile("already linked to another device"))
    expect(link_popup(device_b).get_by_role("alert").filter(has_text="already linked")).to_be_visible()
    expect(login_window(device_b)).to_be_hidden()
    # Escape does not close the popup: nothing works until the device is linked
    device_b.keyboard.press("Escape")
    expect(link_popup(device_b)).to_be_visible()

    # device A reloads: still linked, straight to the terminal's login window
    with device_a.expect_response(lambda r: r.url.endswith("/pos/api/status")):
        device_a.reload()
    expect(login_window(device_a)).to_be_visible()
    expect(link_popup(device_a)).to_be_hidden()

    # a wrong password reads beside the password field
    assert sign_in(device_a, password="wrong password").status == 401
    expect(login_window(device_a).get_by_label("Password", exact=True)).to_have_accessible_description(
        "Wrong username or password.")
    assert sign_in(device_a).status == 200
    expect(device_a.get_by_role("heading", name="Signed in at Till 1 as Carl Cashier")).to_be_visible()
    expect(device_a.get_by_text("outside this portal")).to_be_visible()

    # still signed in after a reload, then Log out goes back to the login window
    with device_a.expect_response(lambda r: r.url.endswith("/pos/api/status")):
        device_a.reload()
    expect(device_a.get_by_role("heading", name="Signed in at Till 1 as Carl Cashier")).to_be_visible()
    with device_a.expect_response(lambda r: r.url.endswith("/pos/api/logout")):
        device_a.get_by_role("button", name="Log out").click()
    expect(login_window(device_a)).to_be_visible()
    expect(device_a.get_by_role("heading", name=re.compile("Signed in at"))).to_be_hidden()


def test_cleared_storage_asks_for_the_key_again_with_a_new_cache_session_id(new_device, till):
    device = new_device()
    device.goto("/pos")
    first_id = cache_session_id(device)
    link(device)
    expect(login_window(device)).to_be_visible()
    with device.expect_response(lambda r: r.url.endswith("/pos/api/status")):
        device.reload()
    assert cache_session_id(device) == first_id  # the same cache session across reloads

    device.evaluate("localStorage.clear()")
    device.reload()
    expect(link_popup(device)).to_be_visible()
    expect(login_window(device)).to_be_hidden()
    assert cache_session_id(device) != first_id
    # the terminal is still linked to the device's former self: only an unlink lets it link again
    assert link(device).status == 409


def test_unlinked_by_an_administrator_then_a_replacement_device_links(new_device, till, admin):
    device_a = new_device()
    device_a.goto("/pos")
    link(device_a)
    expect(login_window(device_a)).to_be_visible()

    assert terminals.unlink(till, admin)
    with device_a.expect_response(lambda r: r.url.endswith("/pos/api/status")):
        device_a.reload()
    expect(link_popup(device_a)).to_be_visible()
    assert device_a.evaluate("localStorage.getItem('pos.deviceToken')") is None  # the dead link is forgotten

    device_b = new_device()
    device_b.goto("/pos")
    assert link(device_b).status == 200
    expect(login_window(device_b)).to_be_visible()
    db.session.refresh(till)
    assert till.is_linked


def test_unlinked_while_the_login_window_is_open(new_device, till, admin):
    device = new_device()
    device.goto("/pos")
    link(device)
    expect(login_window(device)).to_be_visible()
    terminals.unlink(till, admin)
    assert sign_in(device).status == 403
    expect(link_popup(device)).to_be_visible()
    expect(link_popup(device).get_by_text("no longer linked")).to_be_visible()


def test_terminal_in_the_address_only_without_device_security(new_device, till):
    settings.save({"pos.device_security": False})
    device = new_device()
    with device.expect_response(lambda r: r.url.endswith("/pos/api/status")):
        device.goto("/pos?terminal=TILL-0001")
    expect(login_window(device)).to_be_visible()
    expect(link_popup(device)).to_be_hidden()
    expect(device.get_by_text("chosen by the address")).to_be_visible()
    assert sign_in(device).status == 200
    expect(device.get_by_role("heading", name="Signed in at Till 1 as Carl Cashier")).to_be_visible()

    device.goto("/pos?terminal=NO-SUCH-TILL")
    expect(device.get_by_text("The address does not choose a terminal this device can use")).to_be_visible()
    expect(link_popup(device)).to_be_visible()

    # once a device is linked to a terminal, the address no longer chooses it, for anyone
    linked = new_device()
    linked.goto("/pos")
    assert link(linked).status == 200
    device.goto("/pos?terminal=TILL-0001")
    expect(device.get_by_text("The address does not choose a terminal this device can use")).to_be_visible()
    expect(link_popup(device)).to_be_visible()

    settings.save({"pos.device_security": True})
    device.goto("/pos?terminal=TILL-0001")
    expect(device.get_by_text("The terminal in the address is no longer used")).to_be_visible()
    expect(link_popup(device)).to_be_visible()
    expect(login_window(device)).to_be_hidden()


@pytest.fixture
def at_noon():
    """The live server shares this process's clock: freeze it so oathtool and the portal agree exactly."""
    clock.freeze(datetime(2026, 11, 27, 12, 0, 0))
    yield clock


def test_an_employee_with_mfa_links_with_a_one_time_password(new_device, till, make_employee, at_noon):
    settings.save({"mfa.status": True, "mfa.mode": "optional"})
    olga = make_employee(username="olga", full_name="Olga Otp", status_level=5)
    enrolment = mfa.prepare(olga)
    mfa.activate(olga, enrolment.credential.id, totp_code(enrolment.secret))
    at_noon.advance(timedelta(seconds=30))  # a new time step: the activation code is spent

    device = new_device()
    device.goto("/pos")
    popup = fill_link(device, username="olga")
    expect(popup.get_by_label("One-time password")).to_be_hidden()
    answer = press_link(device)
    assert answer.status == 401 and answer.json()["errorcode"] == "mfarequired"
    otp = popup.get_by_label("One-time password")
    expect(otp).to_be_visible()
    expect(otp).to_be_focused()
    expect(otp).to_have_accessible_description(re.compile("one-time password from your authenticator app"))
    expect(popup.get_by_label("Username")).to_have_value("olga")  # what was typed stays
    expect(popup.get_by_label("Terminal Key Identifier")).to_have_value("TILL-0001")

    otp.fill(totp_code(enrolment.secret, at=at_noon.utcnow() - timedelta(minutes=5)))
    assert press_link(device).status == 401
    expect(otp).to_have_accessible_description(re.compile("That code is not valid"))

    otp.fill(totp_code(enrolment.secret))
    assert press_link(device).status == 200
    expect(login_window(device)).to_be_visible()
    expect(link_popup(device)).to_be_hidden()


@pytest.fixture
def mona(make_employee, smtp_server, at_noon):
    """Mona, a manager signed up for MFA by email only (no authenticator app); returns her recovery codes."""
    settings.save({"mfa.status": True, "mfa.mode": "optional", "mfa.methods.email": True})
    employee = make_employee(username="mona", full_name="Mona Manager", status_level=5, email="mona@example.com")
    codes = signed_up_by_email(employee, smtp_server)
    at_noon.advance(timedelta(minutes=1))
    return codes


def send_code_by_email(device):
    popup = link_popup(device)
    with device.expect_response(lambda r: r.url.endswith("/pos/api/link/code")) as answer:
        popup.get_by_role("button", name="Send code by email").click()
    return answer.value


def test_an_employee_with_email_codes_links_with_a_code_sent_from_the_popup(new_device, till, mona, smtp_server):
    device = new_device()
    device.goto("/pos")
    popup = fill_link(device, username="mona")
    expect(popup.get_by_role("button", name="Send code by email")).to_be_hidden()
    assert press_link(device).status == 401
    otp = popup.get_by_label("One-time password")
    expect(otp).to_have_accessible_description(re.compile("A code sent by email, or one of your recovery codes"))
    expect(otp).to_have_accessible_description(re.compile("Have a one-time password sent to you below"))
    expect(popup.get_by_role("button", name="Send code by SMS")).to_be_hidden()

    assert send_code_by_email(device).status == 200
    expect(popup.get_by_role("status")).to_have_text("We sent a code to m•••@example.com. It is valid for 5 minutes.")
    expect(otp).to_be_focused()
    assert smtp_server[-1]["To"] == "mona@example.com"
    otp.fill(last_code(smtp_server))
    assert press_link(device).status == 200
    expect(login_window(device)).to_be_visible()


def test_a_sent_code_can_be_set_aside_for_a_recovery_code(new_device, till, mona, smtp_server):
    device = new_device()
    device.goto("/pos")
    popup = fill_link(device, username="mona")
    press_link(device)
    assert send_code_by_email(device).status == 200
    popup.get_by_role("button", name="Use another kind of code instead").click()
    expect(popup.get_by_role("status")).to_be_hidden()
    popup.get_by_label("One-time password").fill(mona[0])
    answer = press_link(device)
    assert answer.status == 200, answer.json()
    expect(login_window(device)).to_be_visible()


def test_client_log_records_carry_the_cache_session_id(new_device, till):
    device = new_device()
    device.goto("/pos")
    device_id = cache_session_id(device)
    with device.expect_response(lambda r: r.url.endswith("/pos/api/log")) as logged:
        link(device)
    assert logged.value.status == 201
    with device.expect_response(lambda r: r.url.endswith("/pos/api/log")) as logged:
        sign_in(device)
    assert logged.value.status == 201
    with device.expect_response(lambda r: r.url.endswith("/pos/api/log")) as logged:
        device.get_by_role("button", name="Log out").click()
    assert logged.value.status == 201

    db.session.rollback()  # read what the live server committed
    records = db.session.scalars(db.select(PosClientLog).where(PosClientLog.terminal_id == till.id)
                                 .order_by(PosClientLog.id)).all()
    assert [r.message for r in records] == [
        "Device linked to terminal TILL-0001 by carl",
        "Employee carl signed in at terminal TILL-0001",
        "Employee carl logged out at terminal TILL-0001",
    ]
    assert {r.cache_session_id for r in records} == {device_id}
    assert {r.terminal_id for r in records} == {till.id}
    assert all(r.level == "info" and r.logged_at is not None for r in records)


def test_an_expired_page_renews_its_csrf_token_and_the_sign_in_goes_through(new_device, till):
    """A till's page stays open for days; its cookie (and so its CSRF token) may not."""
    device = new_device()
    device.goto("/pos")
    with device.expect_response(lambda r: r.url.endswith("/pos/api/log")):  # "Device linked …"
        assert link(device).status == 200
    device.context.clear_cookies()  # the session cookie, and the CSRF secret in it, are gone
    refused = []
    device.on("response", lambda r: refused.append(r.status) if r.url.endswith("/pos/api/login") else None)
    window = login_window(device)
    window.get_by_label("Username").fill("carl")
    window.get_by_label("Password", exact=True).fill(PASSWORD)
    window.get_by_role("button", name="Log in").click()
    expect(device.get_by_role("heading", name="Signed in at Till 1 as Carl Cashier")).to_be_visible()
    assert refused == [400, 200]  # refused once for the old token, then retried with a new one
