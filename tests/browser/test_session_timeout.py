"""The inactivity warning popup in real Chromium: countdown, Stay signed in, other tabs, expiry.

The server's clock (portal.clock, shared with the live server thread) and the browser's
(Playwright's clock) are moved together, so minutes pass without waiting for them.
"""
import re
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import expect

from portal import clock, settings

pytestmark = pytest.mark.browser
START = datetime(2026, 11, 27, 9, 0, 0)


@pytest.fixture
def short_timeout(make_employee):
    settings.save({"session.timeout_applies": "always", "session.timeout_minutes": 2,
                   "session.warning_minutes": 1})
    make_employee(username="tina", full_name="Tina Timeout")
    clock.freeze(START)


@pytest.fixture
def context(browser, live_server):
    context = browser.new_context(base_url=live_server)
    context.set_default_timeout(10_000)
    context.clock.install(time=START)
    context.clock.pause_at(START)  # browser time moves only with both_clocks()
    yield context
    context.close()


def both_clocks(context, seconds: int):
    """Let `seconds` pass for the server and the browser alike, a second at a time, so that
    the page's status checks are answered at about the time they were asked."""
    for _ in range(seconds):
        clock.advance(timedelta(seconds=1))
        context.clock.run_for(1000)


def sign_in(page):
    page.goto("/login")
    page.get_by_label("Username").fill("tina")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Welcome, Tina Timeout")).to_be_visible()


def test_warning_stay_signed_in_other_tab_and_expiry(context, short_timeout):
    page = context.new_page()
    sign_in(page)
    with page.expect_response(lambda r: "/session/status" in r.url):
        page.goto("/account/")  # the page learns its deadline before the clocks move
    dialog = page.get_by_role("dialog", name="Your session is about to expire")
    expect(dialog).to_be_hidden()

    both_clocks(context, 65)
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(re.compile(r"signed out in 0:5\d"))
    with page.expect_response(lambda r: "/session/keepalive" in r.url):
        dialog.get_by_role("button", name="Stay signed in").click()
    expect(dialog).to_be_hidden()

    # the server now counts from the click: another minute and a half is still inside the timeout
    both_clocks(context, 50)
    expect(dialog).to_be_hidden()

    # a second tab: activity there postpones the warning here
    both_clocks(context, 15)  # 65 s since the click: the warning shows in the first tab
    expect(dialog).to_be_visible()
    second = context.new_page()
    second.goto("/")
    expect(dialog).to_be_hidden()

    # letting the countdown run out lands on the login screen with the message, then back to the page
    both_clocks(context, 125)
    expect(page).to_have_url(re.compile(r"/login\?next=%2Faccount%2F&reason=inactivity$"))
    expect(page.get_by_text("Your session expired due to inactivity.")).to_be_visible()
    page.get_by_label("Username").fill("tina")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/account/$"))


def test_log_out_in_one_tab_signs_out_the_others(context, short_timeout):
    first = context.new_page()
    sign_in(first)
    second = context.new_page()
    second.goto("/account/")
    second.get_by_role("button", name="Log out").click()
    expect(second).to_have_url(re.compile(r"/login$"))
    context.clock.run_for(2000)
    expect(first).to_have_url(re.compile(r"/login\?next=%2F&reason=ended$"))
