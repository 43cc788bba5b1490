"""Every page a person uses: unique element ids, and a visible label for every field."""
from collections import Counter
from html.parser import HTMLParser

import pytest

from portal import settings
from portal.models import PosTerminal
from portal.services.api_tokens import issue_token
from portal.services.pos_devices import record_client_log
from tests.conftest import log_in, post_form


class FormAudit(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: Counter = Counter()
        self.label_targets: set[str] = set()
        self.fields: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids[attrs["id"]] += 1
        if tag == "label" and "for" in attrs:
            self.label_targets.add(attrs["for"])
        if tag in ("input", "select", "textarea") and attrs.get("type") not in ("hidden", "submit", "button"):
            self.fields.append(attrs.get("id", f"<{tag} name={attrs.get('name')} without id>"))


def audit(html: str) -> FormAudit:
    parser = FormAudit()
    parser.feed(html)
    return parser


def assert_well_formed(html: str, url: str):
    page = audit(html)
    duplicates = [i for i, n in page.ids.items() if n > 1]
    assert not duplicates, f"{url}: duplicate ids {duplicates}"
    unlabelled = [f for f in page.fields if f not in page.label_targets]
    assert not unlabelled, f"{url}: fields without a label {unlabelled}"


def test_signed_in_pages(admin_client, admin, make_employee, db):
    other = make_employee(username="other")
    terminal = PosTerminal(name="Till 1", key_identifier="TILL-0001", employees=[other, admin])
    db.session.add(terminal)
    db.session.commit()
    record_client_log(terminal, "info", "started", "cache-session-0001", None, "127.0.0.1")
    settings.save({"api.services": {"mobile_app": True, "kiosk": False}})
    for username in ("admin", "admin", "other"):  # two tokens: the Revoke all button shows too
        issue_token(username, "correct horse battery", "mobile_app", None, "127.0.0.1")
    for url in ("/", "/account/", "/employees/", "/employees/new", f"/employees/{other.id}",
                f"/employees/{admin.id}", "/audit/", "/sysconfig/mfa", "/sysconfig/mfa-methods",
                "/sysconfig/sms-gateway", "/sysconfig/pos", "/sysconfig/external-services", "/terminals/",
                "/terminals/new", f"/terminals/{terminal.id}", f"/terminals/{terminal.id}/log"):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert_well_formed(response.get_data(as_text=True), url)


@pytest.mark.parametrize("mode", ["optional", "mandatory"])
def test_sign_in_pages(client, make_employee, mode):
    assert_well_formed(client.get("/login").get_data(as_text=True), "/login")
    settings.save({"mfa.status": True, "mfa.mode": mode})
    make_employee(username="ann")
    log_in(client, "ann")
    assert_well_formed(client.get("/login/verify").get_data(as_text=True), "/login/verify")
    signup = post_form(client, "/login/signup", {}, form_url="/login/verify")
    assert_well_formed(signup.get_data(as_text=True), "/login/signup")
