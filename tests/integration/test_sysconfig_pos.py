"""Sys Config › POS: "Use terminal/device security", saved, audited and explained."""
import re

import pytest

from portal import settings
from portal.models import AuditEvent, PosTerminal
from portal.services.pos_devices import DEVICE_SECURITY, legacy_terminal
from tests.conftest import csrf_token, log_in, post_form
from tests.integration.test_terminals import text

URL = "/sysconfig/pos"


def events(db, name: str) -> list[AuditEvent]:
    return list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.event == name)))


def box_is_ticked(response) -> bool:
    tag = re.search(r'<input[^>]*id="device_security"[^>]*>', response.get_data(as_text=True)).group(0)
    return " checked" in tag


@pytest.fixture
def manager(make_employee):
    return make_employee(username="mona", status_level=5)


@pytest.fixture
def manager_client(client, manager):
    assert log_in(client, "mona").status_code == 302
    return client


def test_device_security_is_on_by_default_and_explained(manager_client, db):
    db.session.add_all([PosTerminal(name="Till 1", key_identifier="TILL-0001", is_linked=True),
                        PosTerminal(name="Till 2", key_identifier="TILL-0002")])
    db.session.commit()
    response = manager_client.get(URL)
    assert response.status_code == 200 and box_is_ticked(response)
    page = text(response)
    assert "Use terminal/device security" in page
    assert ("On: only a device linked with its Terminal Key Identifier can act as a POS terminal; "
            "the old /pos?terminal=<key> address is ignored.") in page
    assert ("Off (for migration only): /pos?terminal=<key> still picks the terminal from the address, as before; "
            "switch it on once every device is linked.") in page
    assert "Terminals linked to a physical device: 1 of 2" in page
    assert 'href="/sysconfig/pos"' in manager_client.get("/").get_data(as_text=True)


def test_switching_it_off_is_saved_audited_and_lets_the_address_pick_the_terminal(manager_client, db, manager):
    db.session.add(PosTerminal(name="Till 1", key_identifier="TILL-0001"))
    db.session.commit()
    assert legacy_terminal("TILL-0001") is None
    response = post_form(manager_client, URL, {})  # an unticked box is simply absent
    assert response.headers["Location"] == URL
    after = manager_client.get(URL)
    assert "POS settings saved." in text(after) and not box_is_ticked(after)
    assert settings.get(DEVICE_SECURITY) is False
    assert legacy_terminal("TILL-0001").name == "Till 1"
    [changed] = events(db, "settings.changed")
    assert changed.actor_id == manager.id
    assert changed.details == {DEVICE_SECURITY: {"old": True, "new": False}}
    assert "Use terminal/device security is off" in text(manager_client.get("/terminals/"))

    post_form(manager_client, URL, {"device_security": "y"})
    assert settings.get(DEVICE_SECURITY) is True
    assert legacy_terminal("TILL-0001") is None
    assert "Use terminal/device security is off" not in text(manager_client.get("/terminals/"))


def test_saving_without_a_change_says_so(manager_client, db):
    response = post_form(manager_client, URL, {"device_security": "y"}, follow_redirects=True)
    assert "Nothing to save: no setting was changed." in text(response)
    assert events(db, "settings.changed") == []


def test_staff_are_refused(app, db, make_employee):
    make_employee(username="cashier", status_level=4)
    client = app.test_client()
    log_in(client, "cashier")
    assert client.get(URL).status_code == 403
    response = client.post(URL, data={"csrf_token": csrf_token(client, "/account/")})
    assert response.status_code == 403
    assert settings.get(DEVICE_SECURITY) is True


def test_post_without_csrf_token_is_refused(manager_client, db):
    assert manager_client.post(URL, data={}).status_code == 400
    assert settings.get(DEVICE_SECURITY) is True
    assert events(db, "settings.changed") == []
