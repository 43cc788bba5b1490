"""Sys Config › POS: "Use terminal/device security", saved, audited and explained (administrators)."""
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
def administrator(make_employee):
    return make_employee(username="ada", status_level=9)


@pytest.fixture
def administrator_client(client, administrator):
    assert log_in(client, "ada").status_code == 302
    return client


def test_device_security_is_on_by_default_and_explained(administrator_client, db):
    db.session.add_all([PosTerminal(name="Till 1", key_identifier="TILL-0001", is_linked=True),
                        PosTerminal(name="Till 2", key_identifier="TILL-0002")])
    db.session.commit()
    response = administrator_client.get(URL)
    assert response.status_code == 200 and box_is_ticked(response)
    page = text(response)
    assert "Use terminal/device security" in page
    assert ("On: only a device linked with its Terminal Key Identifier can act as a POS terminal; "
            "the old /pos?terminal=<key> address is ignored.") in page
    assert ("Off (for migration only): /pos?terminal=<key> still picks the terminal from the address, as before; "
            "switch it on once every device is linked.") in page
    assert "Terminals linked to a physical device: 1 of 2" in page
    assert 'href="/sysconfig/pos"' in administrator_client.get("/").get_data(as_text=True)


def test_switching_it_off_is_saved_audited_and_lets_the_address_pick_the_terminal(administrator_client, db,
                                                                                   administrator):
    db.session.add(PosTerminal(name="Till 1", key_identifier="TILL-0001"))
    db.session.commit()
    assert legacy_terminal("TILL-0001") is None
    response = post_form(administrator_client, URL, {})  # an unticked box is simply absent
    assert response.headers["Location"] == URL
    after = administrator_client.get(URL)
    assert "POS settings saved." in text(after) and not box_is_ticked(after)
    assert settings.get(DEVICE_SECURITY) is False
    assert legacy_terminal("TILL-0001").name == "Till 1"
    [changed] = events(db, "settings.changed")
    assert changed.actor_id == administrator.id
    assert changed.details == {DEVICE_SECURITY: {"old": True, "new": False}}
    assert "Use terminal/device security is off" in text(administrator_client.get("/terminals/"))

    post_form(administrator_client, URL, {"device_security": "y"})
    assert settings.get(DEVICE_SECURITY) is True
    assert legacy_terminal("TILL-0001") is None
    assert "Use terminal/device security is off" not in text(administrator_client.get("/terminals/"))


def test_saving_without_a_change_says_so(administrator_client, db):
    response = post_form(administrator_client, URL, {"device_security": "y"}, follow_redirects=True)
    assert "Nothing to save: no setting was changed." in text(response)
    assert events(db, "settings.changed") == []


@pytest.mark.parametrize("status_level", [4, 8])
def test_staff_and_managers_are_refused(app, db, make_employee, status_level):
    """Switching device security off weakens every terminal: administrators only."""
    make_employee(username="cashier", status_level=status_level)
    client = app.test_client()
    log_in(client, "cashier")
    assert client.get(URL).status_code == 403
    response = client.post(URL, data={"csrf_token": csrf_token(client, "/account/")})
    assert response.status_code == 403
    assert settings.get(DEVICE_SECURITY) is True


def test_post_without_csrf_token_is_refused(administrator_client, db):
    assert administrator_client.post(URL, data={}).status_code == 400
    assert settings.get(DEVICE_SECURITY) is True
    assert events(db, "settings.changed") == []
