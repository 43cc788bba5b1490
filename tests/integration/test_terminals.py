"""File Maintenance › POS Terminals through the real routes: who may open it, the list and search,
create and edit, unlinking a device, and the employees named on a terminal."""
import html
import re
from datetime import timedelta

import pytest

from portal.models import AuditEvent, PosTerminal
from portal.services import pos_devices
from portal.services.terminals import may_use
from tests.conftest import csrf_token, field_errors, log_in, post_form

PASSWORD = "correct horse battery"
UNLINKED_MESSAGE = "The device is unlinked: it will be asked for a Terminal Key Identifier on its next visit."


def events(db, name: str) -> list[AuditEvent]:
    return list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.event == name)))


def terminals(db) -> list[PosTerminal]:
    return list(db.session.scalars(db.select(PosTerminal).order_by(PosTerminal.id)))


def make_terminal(db, name="Till 1", key="SHOP1-TILL1", store="Main street", min_status_level=None) -> PosTerminal:
    terminal = PosTerminal(name=name, store=store, key_identifier=key, min_status_level=min_status_level)
    db.session.add(terminal)
    db.session.commit()
    return terminal


def text(response) -> str:
    """The page as a person reads it: inline tags dropped, others a space, entities decoded, spaces collapsed."""
    page = re.sub(r"</?(?:a|code|small|span|strong)\b[^>]*>", "", response.get_data(as_text=True))
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def listed_keys(response) -> list[str]:
    return re.findall(r'aria-label="Edit ([^"]+)"', response.get_data(as_text=True))


def new_terminal_form(**overrides) -> dict:
    data = {"name": "Till 1", "store": "Main street", "key_identifier": "SHOP1-TILL1", "min_status_level": ""}
    return data | overrides


def edit_form(client, terminal: PosTerminal, **overrides) -> dict:
    """What the edit page posts back unchanged, as a browser sends it: an unticked or disabled
    checkbox is simply absent."""
    page = client.get(f"/terminals/{terminal.id}").get_data(as_text=True)
    checked = re.search(r'<input[^>]*checked[^>]*id="is_linked"|<input[^>]*id="is_linked"[^>]*checked', page)
    data = {
        "name": terminal.name, "store": terminal.store, "key_identifier": terminal.key_identifier,
        "min_status_level": "" if terminal.min_status_level is None else str(terminal.min_status_level),
        "link_shown": html.unescape(re.search(r'name="link_shown"[^>]*value="([^"]*)"', page).group(1)),
        "is_linked": "y" if checked else None,
    } | overrides
    return {k: v for k, v in data.items() if v is not None}


def link(key="SHOP1-TILL1", username="cashier"):
    return pos_devices.link_device(username, PASSWORD, key, None, "127.0.0.1")


@pytest.fixture
def manager(make_employee):
    return make_employee(username="mona", full_name="Mona Manager", status_level=5)


@pytest.fixture
def manager_client(client, manager):
    assert log_in(client, "mona").status_code == 302
    return client


@pytest.fixture
def cashier(make_employee):
    return make_employee(username="cashier", full_name="Cass Cashier", status_level=1)


# --- who may open POS Terminals ----------------------------------------------------------------

def _terminal_requests(terminal: PosTerminal, employee_id: int):
    """Every POS Terminals request, POSTs carrying what an intruder would want saved."""
    yield "GET", "/terminals/", None
    yield "GET", "/terminals/new", None
    yield "POST", "/terminals/new", new_terminal_form(key_identifier="EVIL-TILL")
    yield "GET", f"/terminals/{terminal.id}", None
    yield "POST", f"/terminals/{terminal.id}", {"name": "Owned", "store": "", "key_identifier": "SHOP1-TILL1",
                                                "min_status_level": "1", "link_shown": ""}
    yield "POST", f"/terminals/{terminal.id}/employees", {"username": "intruder"}
    yield "POST", f"/terminals/{terminal.id}/employees/{employee_id}/remove", {}
    yield "GET", f"/terminals/{terminal.id}/log", None


@pytest.mark.parametrize("status_level", [1, 4])
def test_staff_are_refused_everywhere(app, db, make_employee, status_level):
    terminal = make_terminal(db)
    named = make_employee(username="named")
    terminal.employees.append(named)
    db.session.commit()
    intruder = make_employee(username="intruder", status_level=status_level)
    client = app.test_client()
    log_in(client, "intruder")
    token = csrf_token(client, "/account/")
    for method, url, data in _terminal_requests(terminal, named.id):
        response = client.open(url, method=method, data=None if data is None else {"csrf_token": token, **data})
        assert response.status_code == 403, f"{method} {url}"
    [unchanged] = terminals(db)
    assert (unchanged.name, unchanged.min_status_level) == ("Till 1", None)
    assert [e.username for e in unchanged.employees] == ["named"]
    assert not may_use(unchanged, intruder)
    assert "POS Terminals" not in client.get("/").get_data(as_text=True)


def test_anonymous_visitor_is_sent_to_login(client, db, make_employee):
    terminal = make_terminal(db)
    token = csrf_token(client, "/login")
    for method, url, data in _terminal_requests(terminal, make_employee().id):
        response = client.open(url, method=method, data=None if data is None else {"csrf_token": token, **data})
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), f"{method} {url}"
    assert [t.name for t in terminals(db)] == ["Till 1"]


def test_manager_finds_pos_terminals_in_the_menu(manager_client):
    page = manager_client.get("/").get_data(as_text=True)
    assert 'href="/terminals/"' in page and ">POS Terminals<" in page


def test_unknown_terminal_is_not_found(manager_client):
    for url in ("/terminals/999", "/terminals/99999999999", "/terminals/999/log"):
        assert manager_client.get(url).status_code == 404, url


# --- create and edit ---------------------------------------------------------------------------

def test_manager_creates_a_terminal_and_it_is_audited(manager_client, db, manager):
    response = post_form(manager_client, "/terminals/new",
                         new_terminal_form(name=" Till 1 ", key_identifier=" Shop1-Till1 ", min_status_level="5"))
    [terminal] = terminals(db)
    assert response.headers["Location"] == f"/terminals/{terminal.id}"
    assert (terminal.name, terminal.store, terminal.key_identifier, terminal.min_status_level, terminal.is_linked) == (
        "Till 1", "Main street", "Shop1-Till1", 5, False)
    page = text(manager_client.get(response.headers["Location"]))
    assert "Terminal Till 1 has been created." in page
    [created] = events(db, "pos.terminal_created")
    assert created.actor_id == manager.id
    assert created.details == {"terminal": "Shop1-Till1", "name": "Till 1", "store": "Main street"}


def test_the_list_shows_each_terminal_and_whether_it_is_linked(manager_client, db, cashier, frozen_clock):
    make_terminal(db, "Till 2", "SHOP1-TILL2", min_status_level=1)
    make_terminal(db, "Till 1", "SHOP1-TILL1", min_status_level=1)
    link("SHOP1-TILL2")
    response = manager_client.get("/terminals/")
    assert listed_keys(response) == ["SHOP1-TILL1", "SHOP1-TILL2"]
    rows = re.findall(r"<tr>(.*?)</tr>", response.get_data(as_text=True), re.S)
    cells = [[html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row)][:5] for row in rows if "<td>" in row]
    assert cells[0] == ["Till 1", "Main street", "SHOP1-TILL1", "No", "never"]
    assert cells[1] == ["Till 2", "Main street", "SHOP1-TILL2", "Yes", f"{frozen_clock.utcnow():%Y-%m-%d %H:%M}"]
    assert "Terminal Key Identifier" in text(response) and "Is linked to a physical device" in text(response)


@pytest.mark.parametrize("typed", ["shop1-till1", "SHOP1-TILL1", "Shop1-Till1"])
def test_duplicate_key_is_refused_whatever_its_case(manager_client, db, typed):
    make_terminal(db, "Till 1", "SHOP1-TILL1")
    response = post_form(manager_client, "/terminals/new", new_terminal_form(name="Till 9", key_identifier=typed))
    assert response.status_code == 200
    assert field_errors(response, "key_identifier") == "Another terminal already has this Terminal Key Identifier."
    assert [t.name for t in terminals(db)] == ["Till 1"]
    assert events(db, "pos.terminal_created") == []


def test_edit_cannot_take_another_terminals_key_and_writes_nothing(manager_client, db):
    make_terminal(db, "Till 1", "SHOP1-TILL1")
    second = make_terminal(db, "Till 2", "SHOP1-TILL2")
    response = post_form(manager_client, f"/terminals/{second.id}",
                         edit_form(manager_client, second, name="Renamed", key_identifier="shop1-till1"))
    assert field_errors(response, "key_identifier") == "Another terminal already has this Terminal Key Identifier."
    db.session.refresh(second)
    assert (second.name, second.key_identifier) == ("Till 2", "SHOP1-TILL2")
    assert events(db, "pos.terminal_changed") == []


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"name": "  "}, "name", "This field is required."),
    ({"key_identifier": "TILL 1"}, "key_identifier", "4 to 64 letters, digits"),
    ({"key_identifier": "T1"}, "key_identifier", "4 to 64 letters, digits"),
    ({"min_status_level": "10"}, "min_status_level", "Not a valid choice"),
])
def test_invalid_terminal_is_refused_with_a_field_error(manager_client, db, overrides, field, message):
    response = post_form(manager_client, "/terminals/new", new_terminal_form(**overrides))
    assert message in field_errors(response, field)
    assert terminals(db) == []


def test_manager_edits_a_terminal_and_the_change_is_audited(manager_client, db, manager):
    terminal = make_terminal(db)
    response = post_form(manager_client, f"/terminals/{terminal.id}",
                         edit_form(manager_client, terminal, name="Front till", min_status_level="5"))
    assert response.headers["Location"] == f"/terminals/{terminal.id}"
    assert "Saved." in text(manager_client.get(response.headers["Location"]))
    db.session.refresh(terminal)
    assert (terminal.name, terminal.min_status_level) == ("Front till", 5)
    [changed] = events(db, "pos.terminal_changed")
    assert changed.actor_id == manager.id
    assert changed.details == {"terminal": "SHOP1-TILL1", "name": {"old": "Till 1", "new": "Front till"},
                               "min_status_level": {"old": None, "new": 5}}


def test_saving_an_unchanged_form_says_so(manager_client, db):
    terminal = make_terminal(db)
    response = post_form(manager_client, f"/terminals/{terminal.id}", edit_form(manager_client, terminal),
                         follow_redirects=True)
    assert "Nothing to save: no field was changed." in text(response)
    assert events(db, "pos.terminal_changed") == []


def test_minimum_status_level_decides_who_may_use_the_terminal(manager_client, db, make_employee):
    terminal = make_terminal(db)
    page = text(manager_client.get(f"/terminals/{terminal.id}"))
    for words in ("Only the employees named below", "Staff and above (1)", "Managers and above (5)",
                  "Administrators only (9)"):
        assert words in page
    staff, manager = make_employee(status_level=4), make_employee(status_level=5)
    assert not may_use(terminal, staff) and not may_use(terminal, manager)
    post_form(manager_client, f"/terminals/{terminal.id}", edit_form(manager_client, terminal, min_status_level="5"))
    db.session.refresh(terminal)
    assert not may_use(terminal, staff) and may_use(terminal, manager)


# --- search and pagination ---------------------------------------------------------------------

@pytest.fixture
def shop_terminals(db):
    make_terminal(db, "Front till", "HIGH-ST-01", store="High Street")
    make_terminal(db, "Back till", "HIGH-ST-02", store="High Street")
    make_terminal(db, "Kiosk", "STATION-K1", store="Łódź Station")


@pytest.mark.parametrize(("query", "expected"), [
    ("high street", ["HIGH-ST-02", "HIGH-ST-01"]),  # store, other case; listed by name
    ("kiosk", ["STATION-K1"]),  # name
    ("st-01", ["HIGH-ST-01"]),  # part of the Terminal Key Identifier
    ("ŁÓDŹ", ["STATION-K1"]),  # beyond ASCII, other case
    ("nothing like it", []),
])
def test_search_by_name_store_or_key(manager_client, shop_terminals, query, expected):
    response = manager_client.get("/terminals/", query_string={"q": query})
    assert listed_keys(response) == expected
    if not expected:
        assert "No terminal matches." in text(response)


def test_the_list_pages_by_fifty_and_keeps_the_search(manager_client, db):
    db.session.add_all([PosTerminal(name=f"Till {n:03}", store="Mall", key_identifier=f"MALL-{n:03}")
                        for n in range(60)] + [PosTerminal(name="Other", store="Elsewhere", key_identifier="ELSE-1")])
    db.session.commit()
    first = manager_client.get("/terminals/?q=mall")
    assert listed_keys(first) == [f"MALL-{n:03}" for n in range(50)]
    assert "60 terminals matching" in text(first) and "Page 1 of 2" in text(first)
    assert 'href="/terminals/?page=2&amp;q=mall"' in first.get_data(as_text=True)
    second = manager_client.get("/terminals/?page=2&q=mall")
    assert listed_keys(second) == [f"MALL-{n:03}" for n in range(50, 60)]
    assert "Page 2 of 2" in text(second)


def test_search_text_is_escaped(manager_client, db):
    make_terminal(db, "<b>Bold</b>", "BOLD-1")
    page = manager_client.get("/terminals/?q=<b>").get_data(as_text=True)
    assert "<b>Bold</b>" not in page and "&lt;b&gt;Bold&lt;/b&gt;" in page


# --- linked devices ----------------------------------------------------------------------------

def test_unticking_unlinks_the_device_and_its_token_stops_working(manager_client, db, manager, cashier):
    terminal = make_terminal(db, min_status_level=1)
    device = link()
    assert pos_devices.linked_terminal("SHOP1-TILL1", device.device_token) is not None
    page = manager_client.get(f"/terminals/{terminal.id}")
    assert re.search(r'<input[^>]*checked[^>]*id="is_linked"', page.get_data(as_text=True))
    assert "Untick and save to unlink the device" in text(page)
    assert "Linked by Cass Cashier (cashier)" in text(page)

    response = post_form(manager_client, f"/terminals/{terminal.id}",
                         edit_form(manager_client, terminal, is_linked=None), follow_redirects=True)
    assert f"Saved. {UNLINKED_MESSAGE}" in text(response)
    assert pos_devices.linked_terminal("SHOP1-TILL1", device.device_token) is None
    db.session.refresh(terminal)
    assert not terminal.is_linked and terminal.device_token_hash is None
    [unlinked] = events(db, "pos.terminal_unlinked")
    assert unlinked.actor_id == manager.id and unlinked.details["terminal"] == "SHOP1-TILL1"
    # the seed's replacement of a broken device: another device links with the code
    assert pos_devices.linked_terminal("SHOP1-TILL1", link().device_token) is not None


def test_a_terminal_without_a_device_cannot_be_linked_from_the_back_office(manager_client, db):
    terminal = make_terminal(db)
    page = manager_client.get(f"/terminals/{terminal.id}")
    assert re.search(r'<input[^>]*disabled[^>]*id="is_linked"|<input[^>]*id="is_linked"[^>]*disabled',
                     page.get_data(as_text=True))
    post_form(manager_client, f"/terminals/{terminal.id}", edit_form(manager_client, terminal, is_linked="y"))
    db.session.refresh(terminal)
    assert not terminal.is_linked
    assert events(db, "pos.terminal_linked") == []


def test_a_device_linked_after_the_page_was_opened_stays_linked(manager_client, db, cashier):
    terminal = make_terminal(db, min_status_level=1)
    stale_form = edit_form(manager_client, terminal, name="Front till")  # opened before any link
    device = link()
    response = post_form(manager_client, f"/terminals/{terminal.id}", stale_form, follow_redirects=True)
    assert "Saved." in text(response) and UNLINKED_MESSAGE not in text(response)
    assert pos_devices.linked_terminal("SHOP1-TILL1", device.device_token) is not None


def test_unticking_an_old_link_keeps_a_device_linked_since(manager_client, db, cashier, frozen_clock):
    terminal = make_terminal(db, min_status_level=1)
    link()
    stale_form = edit_form(manager_client, terminal, is_linked=None)
    assert post_form(manager_client, f"/terminals/{terminal.id}", stale_form).status_code == 302  # unlinks
    frozen_clock.advance(timedelta(minutes=5))
    new_device = link()
    response = post_form(manager_client, f"/terminals/{terminal.id}", stale_form, follow_redirects=True)
    assert "A device was linked to this terminal after you opened the page; that link is kept." in text(response)
    assert pos_devices.linked_terminal("SHOP1-TILL1", new_device.device_token) is not None


def test_a_linked_terminal_keeps_its_key_unless_the_same_save_unlinks_it(manager_client, db, cashier):
    terminal = make_terminal(db, min_status_level=1)
    device = link()
    response = post_form(manager_client, f"/terminals/{terminal.id}",
                         edit_form(manager_client, terminal, key_identifier="SHOP1-TILL9"))
    assert "untick Is linked to a physical device to change it" in field_errors(response, "key_identifier")
    assert pos_devices.linked_terminal("SHOP1-TILL1", device.device_token) is not None
    # only the case changes: the device still finds its terminal
    post_form(manager_client, f"/terminals/{terminal.id}", edit_form(manager_client, terminal,
                                                                      key_identifier="shop1-till1"))
    assert pos_devices.linked_terminal("SHOP1-TILL1", device.device_token) is not None
    # untick and enter a new code in one save
    post_form(manager_client, f"/terminals/{terminal.id}",
              edit_form(manager_client, terminal, key_identifier="SHOP1-TILL9", is_linked=None))
    db.session.refresh(terminal)
    assert (terminal.key_identifier, terminal.is_linked) == ("SHOP1-TILL9", False)
    assert pos_devices.linked_terminal("SHOP1-TILL1", device.device_token) is None
    # the unlink is audited under the key the device knew, with whose link it ended
    [unlinked] = events(db, "pos.terminal_unlinked")
    assert unlinked.details["terminal"] == "shop1-till1" and unlinked.details["linked_by"] == "cashier"


# --- employees named on a terminal -------------------------------------------------------------

def test_adding_and_removing_an_employee_changes_who_may_use_the_terminal(manager_client, db, make_employee):
    terminal = make_terminal(db)  # only the employees named on it
    ann = make_employee(username="ann", full_name="Ann Example")
    assert not may_use(terminal, ann)
    response = post_form(manager_client, f"/terminals/{terminal.id}/employees", {"username": "ANN"},
                         form_url=f"/terminals/{terminal.id}")
    assert response.headers["Location"] == f"/terminals/{terminal.id}#employees"
    page = text(manager_client.get(f"/terminals/{terminal.id}"))
    assert "Ann Example (ann) may now use this terminal." in page
    assert "ann Ann Example Remove ann" in page
    assert may_use(terminal, ann)
    [allowed] = [e for e in events(db, "pos.terminal_changed") if "employee_allowed" in e.details]
    assert allowed.subject_id == ann.id

    again = post_form(manager_client, f"/terminals/{terminal.id}/employees", {"username": "ann"},
                      form_url=f"/terminals/{terminal.id}", follow_redirects=True)
    assert "Ann Example (ann) is already named on this terminal." in text(again)

    removed = post_form(manager_client, f"/terminals/{terminal.id}/employees/{ann.id}/remove", {},
                        form_url=f"/terminals/{terminal.id}", follow_redirects=True)
    assert "Ann Example (ann) is no longer named on this terminal." in text(removed)
    assert "No employee is named on this terminal." in text(removed)
    assert not may_use(terminal, ann)


def test_unknown_username_is_a_field_error(manager_client, db):
    terminal = make_terminal(db)
    response = post_form(manager_client, f"/terminals/{terminal.id}/employees", {"username": "nobody"},
                         form_url=f"/terminals/{terminal.id}")
    assert response.status_code == 400
    assert field_errors(response, "username") == "No employee has this username."
    assert terminal.employees == []


def test_the_page_says_administrators_may_use_every_terminal(manager_client, db, admin):
    terminal = make_terminal(db)
    assert "Administrators may always use every terminal." in text(manager_client.get(f"/terminals/{terminal.id}"))
    assert may_use(terminal, admin)


def test_posts_without_csrf_token_are_refused(manager_client, db, make_employee):
    terminal = make_terminal(db)
    named = make_employee(username="named")
    terminal.employees.append(named)
    db.session.commit()
    assert manager_client.post("/terminals/new", data=new_terminal_form(key_identifier="NEW-TILL")).status_code == 400
    assert manager_client.post(f"/terminals/{terminal.id}/employees/{named.id}/remove").status_code == 400
    assert manager_client.post(f"/terminals/{terminal.id}", data={"name": "Owned", "key_identifier": "SHOP1-TILL1",
                                                                  "min_status_level": ""}).status_code == 400
    [unchanged] = terminals(db)
    assert unchanged.name == "Till 1" and [e.username for e in unchanged.employees] == ["named"]
