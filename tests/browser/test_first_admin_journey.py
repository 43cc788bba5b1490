"""The foundation's journey in real Chromium: setup link → first admin → employee → sign-in."""
import re

import pytest
from playwright.sync_api import expect

from portal.services.setup import issue_setup_token

pytestmark = pytest.mark.browser


def log_in(page, username, password):
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_setup_link_admin_creates_employee_who_then_signs_in(page, live_server):
    token = issue_setup_token()
    page.goto(f"/setup/{token}")
    expect(page.get_by_role("heading", name="Create the first administrator")).to_be_visible()
    page.get_by_label("Username").fill("boss")
    page.get_by_label("Full name").fill("Bea Boss")
    page.get_by_label("New password", exact=True).fill("a long admin passphrase")
    page.get_by_label("Confirm new password").fill("a long admin passphrase")
    page.get_by_role("button", name="Create administrator").click()
    expect(page.get_by_text("The administrator has been created")).to_be_visible()

    # the link was for one use only
    assert page.goto(f"/setup/{token}").status == 404

    log_in(page, "boss", "a long admin passphrase")
    expect(page.get_by_role("heading", name="Welcome, Bea Boss")).to_be_visible()
    page.wait_for_load_state("load")  # the menu opens by script: let the page's scripts run first
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("button", name="File Maintenance").click()
    nav.get_by_role("link", name="Employee maintenance").click()
    page.get_by_role("link", name="New employee").click()
    page.get_by_label("Username").fill("cashier1")
    page.get_by_label("Full name").fill("Cass Cashier")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_label("New password", exact=True).fill("cashier passphrase 1")
    page.get_by_label("Confirm new password").fill("cashier passphrase 1")
    page.get_by_role("button", name="Create employee").click()
    # a bad email is a field error and nothing typed is lost
    expect(page.get_by_text("Enter a valid email address.")).to_be_visible()
    expect(page.get_by_label("Full name")).to_have_value("Cass Cashier")
    page.get_by_label("Email").fill("cass@example.com")
    page.get_by_label("New password", exact=True).fill("cashier passphrase 1")
    page.get_by_label("Confirm new password").fill("cashier passphrase 1")
    page.get_by_role("button", name="Create employee").click()
    expect(page.get_by_text("Employee cashier1 has been created.")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    log_in(page, "cashier1", "cashier passphrase 1")
    expect(page.get_by_role("heading", name="Welcome, Cass Cashier")).to_be_visible()
    # a staff member sees no File Maintenance menu and cannot open it directly
    expect(page.get_by_role("button", name="File Maintenance")).to_have_count(0)
    assert page.goto("/employees/").status == 403
