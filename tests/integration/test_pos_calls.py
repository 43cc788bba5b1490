"""The Web POS device calls over the Flask test client: linking, device tokens, the terminal's
login, the client log, the legacy URL, and bad input answered as JSON with stable errorcodes."""
import re
import threading

import pytest

from portal import settings
from portal.mfa import service as mfa
from portal.models import AuditEvent, PosClientLog, PosTerminal
from tests.authenticator import totp_code

PASSWORD = "correct horse battery"
CACHE_ID = "0c6f7a38-4d0e-4bd8-9d43-7d2b8a6f1a11"


@pytest.fixture
def terminal(db):
    return make_terminal(db, "Till 1", "SHOP1-TILL1")


@pytest.fixture
def cashier(make_employee):
    return make_employee(username="cashier", full_name="Cass Cashier", status_level=1)


def make_terminal(db, name: str, key: str, min_status_level: int | None = 1) -> PosTerminal:
    terminal = PosTerminal(name=name, store="Main street", key_identifier=key, min_status_level=min_status_level)
    db.session.add(terminal)
    db.session.commit()
    return terminal


def pos_token(client) -> str:
    page = client.get("/pos").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def call(client, path: str, body=None, device: tuple[str, str | None] | None = None, **kwargs):
    """POST a JSON body to a POS call the way pos.js does: CSRF header and device headers."""
    headers = {"X-CSRFToken": pos_token(client)}
    if device:
        headers["X-Pos-Terminal"] = device[0]
        if device[1]:
            headers["X-Pos-Device-Token"] = device[1]
    if "data" in kwargs:
        return client.post(f"/pos/api/{path}", headers=headers, content_type="application/json", **kwargs)
    return client.post(f"/pos/api/{path}", headers=headers, json=body if body is not None else {}, **kwargs)


def link(client, username="cashier", key="SHOP1-TILL1", password=PASSWORD, **extra):
    return call(client, "link", {"username": username, "password": password, "terminal_key": key, **extra})


def events(db, name: str) -> list[AuditEvent]:
    return db.session.scalars(db.select(AuditEvent).where(AuditEvent.event == name)).all()


def test_a_device_links_once_and_its_token_opens_the_terminal(app, db, client, terminal, cashier):
    response = link(client, key="shop1-till1")  # the key is typed without regard to case
    assert response.status_code == 200, response.json
    token = response.json["device_token"]
    assert response.json["terminal"] == {"key": "SHOP1-TILL1", "name": "Till 1", "store": "Main street"}
    assert len(token) >= 40

    db.session.expire_all()
    stored = db.session.get(PosTerminal, terminal.id)
    assert stored.is_linked and stored.linked_by_id == cashier.id and stored.linked_at is not None
    assert token not in (stored.device_token_hash or "")  # stored hashed, never as sent
    [event] = events(db, "pos.terminal_linked")
    assert event.actor_id == cashier.id and event.details["terminal"] == "SHOP1-TILL1"

    status = call(client, "status", device=("SHOP1-TILL1", token))
    assert status.json["linked"] is True and status.json["employee"] is None

    other_device = app.test_client()
    refused = link(other_device)
    assert refused.status_code == 409 and refused.json["errorcode"] == "alreadylinked"
    assert "already linked" in refused.json["error"]


def test_login_at_the_terminal_and_logout(client, terminal, cashier):
    token = link(client).json["device_token"]
    device = ("SHOP1-TILL1", token)
    wrong = call(client, "login", {"username": "cashier", "password": "wrong password!"}, device=device)
    assert wrong.status_code == 401 and wrong.json["errorcode"] == "invalidlogin"

    signed_in = call(client, "login", {"username": "CASHIER", "password": PASSWORD}, device=device)
    assert signed_in.status_code == 200
    assert signed_in.json["employee"] == {"username": "cashier", "full_name": "Cass Cashier"}
    assert call(client, "status", device=device).json["employee"]["username"] == "cashier"

    assert call(client, "logout", device=device).json == {"signed_out": True}
    assert call(client, "status", device=device).json["employee"] is None


def test_only_employees_allowed_on_the_terminal_link_or_sign_in(db, client, make_employee):
    make_terminal(db, "Office till", "OFFICE-1", min_status_level=5)
    make_employee(username="staff", status_level=1)
    make_employee(username="boss", status_level=9)

    refused = link(client, username="staff", key="OFFICE-1")
    assert refused.status_code == 403 and refused.json["errorcode"] == "notallowed"
    token = link(client, username="boss", key="OFFICE-1").json["device_token"]  # administrators always may
    staff_login = call(client, "login", {"username": "staff", "password": PASSWORD}, device=("OFFICE-1", token))
    assert staff_login.status_code == 403 and staff_login.json["errorcode"] == "notallowed"
    assert [e.details["reason"] for e in events(db, "pos.link_failed")] == ["not allowed"]


def test_wrong_password_and_unknown_user_read_the_same_and_reveal_no_terminal(db, client, terminal, cashier):
    wrong_password = link(client, password="not the password")
    unknown_user = link(client, username="nobody")
    unknown_both = link(client, username="nobody", key="NO-SUCH-KEY")
    for response in (wrong_password, unknown_user, unknown_both):
        assert response.status_code == 401
        assert response.json == {"error": "Wrong username or password.", "errorcode": "invalidlogin",
                                 "field": "password"}
    assert len(events(db, "pos.link_failed")) == 3


def test_an_unknown_key_is_named_after_a_correct_password(db, client, cashier, terminal):
    response = link(client, key="NO-SUCH-KEY")
    assert response.status_code == 404 and response.json["errorcode"] == "unknownterminal"
    assert response.json["field"] == "terminal_key"


def test_forged_missing_and_other_terminals_tokens_are_refused(db, client, terminal, cashier):
    make_terminal(db, "Till 2", "SHOP1-TILL2")
    token = link(client).json["device_token"]
    other_token = link(client, key="SHOP1-TILL2").json["device_token"]
    login = {"username": "cashier", "password": PASSWORD}
    for device in (("SHOP1-TILL1", "forged-" + token[7:]), ("SHOP1-TILL1", other_token),
                   ("SHOP1-TILL2", token), ("SHOP1-TILL1", None), ("NO-SUCH", token)):
        response = call(client, "login", login, device=device)
        assert response.status_code == 403 and response.json["errorcode"] == "devicenotlinked", device
        assert call(client, "status", device=device).json == {"linked": False}, device
        record = {"level": "info", "message": "hello", "cache_session_id": CACHE_ID}
        assert call(client, "log", record, device=device).status_code == 403, device
    assert call(client, "login", login, device=("SHOP1-TILL1", token)).status_code == 200


def test_a_device_token_opens_no_back_office_page(client, terminal, cashier, admin):
    token = link(client).json["device_token"]
    headers = {"X-Pos-Device-Token": token, "X-Pos-Terminal": "SHOP1-TILL1"}
    for path in ("/", "/employees/", "/terminals/", "/sysconfig/mfa", "/account/", "/login"):
        response = client.get(path, headers=headers)
        assert response.status_code == 403 and response.json["errorcode"] == "forbidden", path


def test_unlinking_ends_the_devices_token_and_a_replacement_links(app, db, client, terminal, cashier, admin):
    from portal.services.terminals import unlink

    token = link(client).json["device_token"]
    assert unlink(db.session.get(PosTerminal, terminal.id), admin) is True
    assert call(client, "status", device=("SHOP1-TILL1", token)).json == {"linked": False}
    [event] = events(db, "pos.terminal_unlinked")
    assert event.actor_id == admin.id

    replacement = app.test_client()
    new_token = link(replacement).json["device_token"]
    assert call(replacement, "status", device=("SHOP1-TILL1", new_token)).json["linked"] is True
    assert call(client, "status", device=("SHOP1-TILL1", token)).json == {"linked": False}


class TestSecondFactorAtLinking:
    @pytest.fixture
    def enrolled(self, db, cashier, frozen_clock):
        settings.save({"mfa.status": True, "mfa.mode": "optional"})
        enrolment = mfa.prepare(cashier)
        codes = mfa.activate(cashier, enrolment.credential.id, totp_code(enrolment.secret))
        return enrolment.secret, codes

    def test_an_enrolled_employee_gives_a_code_once(self, db, client, terminal, enrolled, frozen_clock):
        from datetime import timedelta

        secret, _codes = enrolled
        asked = link(client)
        assert asked.status_code == 401 and asked.json["errorcode"] == "mfarequired" and asked.json["field"] == "otp"
        assert not db.session.get(PosTerminal, terminal.id).is_linked

        wrong = link(client, otp="000000" if totp_code(secret) != "000000" else "111111")
        assert wrong.status_code == 401 and wrong.json["errorcode"] == "invalidotp"

        frozen_clock.advance(timedelta(seconds=30))
        code = totp_code(secret)
        assert link(client, otp=code).status_code == 200
        from portal.services.terminals import unlink

        db.session.expire_all()
        unlink(db.session.get(PosTerminal, terminal.id), None)
        replayed = link(client, otp=code)  # the same code again: refused like a wrong one
        assert replayed.status_code == 401 and replayed.json["errorcode"] == "invalidotp"

    def test_nothing_about_terminals_is_said_before_the_second_factor(self, db, client, terminal, enrolled):
        make_terminal(db, "Office", "OFFICE-1", min_status_level=9)
        for key in ("NO-SUCH-KEY", "OFFICE-1", "SHOP1-TILL1"):
            response = link(client, key=key)
            assert response.status_code == 401 and response.json["errorcode"] == "mfarequired", key

    def test_a_recovery_code_works_once(self, db, client, terminal, enrolled):
        _secret, codes = enrolled
        assert link(client, otp=codes[0]).status_code == 200

    def test_mandatory_mode_without_enrolment_sends_to_signup(self, db, client, terminal, cashier):
        settings.save({"mfa.status": True, "mfa.mode": "mandatory"})
        response = link(client)
        assert response.status_code == 403 and response.json["errorcode"] == "mfasignuprequired"


class TestLegacyUrl:
    def test_with_device_security_off_the_url_picks_the_terminal(self, db, client, terminal, cashier):
        settings.save({"pos.device_security": False})
        page = client.get("/pos?terminal=shop1-till1").get_data(as_text=True)
        assert 'data-legacy-terminal="SHOP1-TILL1"' in page
        assert events(db, "pos.legacy_url_used")[0].details["terminal"] == "SHOP1-TILL1"
        login = call(client, "login", {"username": "cashier", "password": PASSWORD}, device=("SHOP1-TILL1", None))
        assert login.status_code == 200
        record = {"level": "info", "message": "legacy", "cache_session_id": CACHE_ID}
        assert call(client, "log", record, device=("SHOP1-TILL1", None)).status_code == 201

    def test_legacy_use_is_audited_once_an_hour_per_terminal_not_per_call(self, db, client, terminal, cashier,
                                                                           frozen_clock):
        from datetime import timedelta

        settings.save({"pos.device_security": False})
        record = {"level": "info", "message": "legacy", "cache_session_id": CACHE_ID}
        for _ in range(5):
            client.get("/pos?terminal=SHOP1-TILL1")
            call(client, "log", record, device=("SHOP1-TILL1", None))
            frozen_clock.advance(timedelta(minutes=5))
        assert len(events(db, "pos.legacy_url_used")) == 1
        frozen_clock.advance(timedelta(hours=1))
        call(client, "status", device=("SHOP1-TILL1", None))
        assert len(events(db, "pos.legacy_url_used")) == 2
        assert db.session.get(PosTerminal, terminal.id).legacy_seen_at == frozen_clock.utcnow()

    def test_a_linked_terminal_is_not_chosen_by_the_url(self, app, db, client, terminal, cashier):
        settings.save({"pos.device_security": False})
        link(app.test_client())
        page = client.get("/pos?terminal=SHOP1-TILL1").get_data(as_text=True)
        assert 'data-legacy-terminal=""' in page and "already linked to a physical device" in page
        login = call(client, "login", {"username": "cashier", "password": PASSWORD}, device=("SHOP1-TILL1", None))
        assert login.status_code == 403 and login.json["errorcode"] == "devicenotlinked"

    def test_with_device_security_on_the_url_is_ignored(self, db, client, terminal, cashier):
        page = client.get("/pos?terminal=SHOP1-TILL1").get_data(as_text=True)
        assert 'data-legacy-terminal=""' in page and "no longer used" in page
        assert events(db, "pos.legacy_url_used") == []
        login = call(client, "login", {"username": "cashier", "password": PASSWORD}, device=("SHOP1-TILL1", None))
        assert login.status_code == 403 and login.json["errorcode"] == "devicenotlinked"


class TestClientLog:
    def test_records_are_stored_with_the_cache_session_id(self, db, client, terminal, cashier):
        token = link(client).json["device_token"]
        body = {"level": "warning", "message": "Printer offline", "cache_session_id": CACHE_ID,
                "logged_at": "2026-11-28T10:00:00+01:00"}
        assert call(client, "log", body, device=("SHOP1-TILL1", token)).status_code == 201
        [row] = db.session.scalars(db.select(PosClientLog)).all()
        assert (row.level, row.message, row.cache_session_id) == ("warning", "Printer offline", CACHE_ID)
        assert row.logged_at.isoformat() == "2026-11-28T09:00:00"

    def test_two_cache_session_ids_within_an_hour_warn_on_the_terminal(self, db, client, terminal, cashier):
        token = link(client).json["device_token"]
        device = ("SHOP1-TILL1", token)
        for cache_id in (CACHE_ID, CACHE_ID):
            call(client, "log", {"level": "info", "message": "x", "cache_session_id": cache_id}, device=device)
        db.session.expire_all()
        assert db.session.get(PosTerminal, terminal.id).cache_warning is None
        second = "9b1d2c3e-0000-4000-8000-000000000002"
        call(client, "log", {"level": "info", "message": "y", "cache_session_id": second}, device=device)
        db.session.expire_all()
        assert db.session.get(PosTerminal, terminal.id).cache_warning["ids"] == sorted([CACHE_ID, second])
        assert len(events(db, "pos.cache_sessions_overlap")) == 1
        for n in range(10):  # a new ID with every record: still one audit row an hour
            fresh = f"9b1d2c3e-0000-4000-8000-00000000010{n}"
            call(client, "log", {"level": "info", "message": "z", "cache_session_id": fresh}, device=device)
        assert len(events(db, "pos.cache_sessions_overlap")) == 1


@pytest.mark.parametrize(("path", "kwargs", "errorcode", "status"), [
    ("link", {"data": "{not json"}, "invalidrequest", 400),
    ("link", {"data": "[1, 2]"}, "invalidrequest", 400),
    ("link", {"body": {"username": "cashier", "password": PASSWORD}}, "invalidrequest", 400),
    ("link", {"body": {"username": 5, "password": PASSWORD, "terminal_key": "SHOP1-TILL1"}}, "invalidrequest", 400),
    ("link", {"body": {"username": "x" * 5000, "password": "p", "terminal_key": "k"}}, "toolarge", 413),
    ("log", {"body": {"level": "info", "message": "m" * 1001, "cache_session_id": CACHE_ID}}, "invalidrequest", 400),
    ("log", {"body": {"level": "loud", "message": "m", "cache_session_id": CACHE_ID}}, "invalidrequest", 400),
    ("log", {"body": {"level": "info", "message": "m", "cache_session_id": "<script>"}}, "invalidrequest", 400),
    ("log", {"body": {"level": "info", "message": "m", "cache_session_id": CACHE_ID, "logged_at": "noon"}},
     "invalidrequest", 400),
    ("login", {"body": {}}, "invalidrequest", 400),
    ("status", {"data": "null"}, "invalidrequest", 400),
])
def test_bad_input_gets_a_json_error_never_a_crash(client, terminal, cashier, path, kwargs, errorcode, status):
    token = link(client).json["device_token"]
    body = kwargs.pop("body", None)
    response = call(client, path, body, device=("SHOP1-TILL1", token), **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json and response.json["errorcode"] == errorcode and response.json["error"]


def test_a_call_without_the_csrf_token_is_refused(db, client, terminal, cashier):
    response = client.post("/pos/api/link", json={"username": "cashier", "password": PASSWORD,
                                                  "terminal_key": "SHOP1-TILL1"})
    assert response.status_code == 400 and response.json["errorcode"] == "csrffailed"
    assert not db.session.get(PosTerminal, terminal.id).is_linked


def test_link_attempts_are_rate_limited(client, terminal, cashier):
    statuses = [link(client, password="wrong guess number").status_code for _ in range(11)]
    assert statuses[-1] == 429 and set(statuses[:10]) == {401}
    assert call(client, "link", {}).json["errorcode"] == "ratelimited"


def test_twenty_devices_linking_one_terminal_at_once_have_one_winner(app, db, terminal, cashier):
    """The conditional UPDATE on is_linked: exactly one device gets a token (run on PostgreSQL in CI)."""
    clients = [app.test_client() for _ in range(20)]
    for number, device in enumerate(clients):  # twenty devices, twenty addresses
        device.environ_base["REMOTE_ADDR"] = f"10.0.0.{number + 1}"
    tokens = [pos_token(c) for c in clients]
    barrier = threading.Barrier(len(clients))
    results: list[tuple[int, str | None]] = []

    def attempt(client, token):
        barrier.wait()
        response = client.post("/pos/api/link", headers={"X-CSRFToken": token}, json={
            "username": "cashier", "password": PASSWORD, "terminal_key": "SHOP1-TILL1"})
        results.append((response.status_code, response.json.get("errorcode")))

    threads = [threading.Thread(target=attempt, args=pair) for pair in zip(clients, tokens, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 20
    assert [r for r in results if r[0] == 200] == [(200, None)]
    assert {r for r in results if r[0] != 200} == {(409, "alreadylinked")}
    assert len(events(db, "pos.terminal_linked")) == 1


def test_pos_use_in_a_signed_in_browser_neither_extends_nor_ends_the_back_office_session(
        client, db, terminal, cashier, make_employee, frozen_clock):
    from datetime import timedelta

    from tests.conftest import log_in

    settings.save({"session.timeout_applies": "always", "session.timeout_minutes": 120})
    make_employee(username="boss", status_level=9)
    assert log_in(client, "boss").status_code == 302
    token = link(client).json["device_token"]
    for _ in range(13):  # two hours and more of POS use, and no back-office page
        frozen_clock.advance(timedelta(minutes=10))
        assert call(client, "status", device=("SHOP1-TILL1", token)).json["linked"] is True
    response = client.get("/account/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_pos_sign_in_ends_when_the_employee_is_no_longer_allowed_or_the_terminal_is_relinked(
        app, db, client, terminal, cashier, admin):
    from portal.services.terminals import unlink

    token = link(client).json["device_token"]
    device = ("SHOP1-TILL1", token)
    assert call(client, "login", {"username": "cashier", "password": PASSWORD}, device=device).status_code == 200
    stored = db.session.get(PosTerminal, terminal.id)
    stored.min_status_level = 5  # the cashier is no longer allowed here
    db.session.commit()
    assert call(client, "status", device=device).json["employee"] is None

    stored.min_status_level = 1
    db.session.commit()
    assert call(client, "login", {"username": "cashier", "password": PASSWORD}, device=device).status_code == 200
    unlink(db.session.get(PosTerminal, terminal.id), admin)
    new_token = link(app.test_client()).json["device_token"]  # a replacement device
    # the old browser's cookie, even with the new device's token, is not signed in there
    assert call(client, "status", device=("SHOP1-TILL1", new_token)).json == {
        "linked": True, "terminal": {"key": "SHOP1-TILL1", "name": "Till 1", "store": "Main street"},
        "employee": None}
