"""/api/mfa/: status, prepare, activate, verify and enforcement with a real bearer token (or the
browser session with its CSRF token), on the same MFA service as the pages."""
import re
import shutil
import subprocess
from datetime import timedelta

import pytest

from portal import settings
from portal.mfa import service as mfa
from portal.models import AccessPolicy, AuditEvent, Employee
from portal.services.api_tokens import issue_token, revoke_token
from tests.authenticator import totp_code
from tests.conftest import csrf_token, log_in, post_form
from tests.factories import DEFAULT_PASSWORD


@pytest.fixture
def mfa_on(db):
    def switch(mode="optional", **extra):
        settings.save({"mfa.status": True, "mfa.mode": mode, **extra})
    return switch


def bearer(username: str) -> dict[str, str]:
    """A real token from the token service (Enable MFA for the mobile app is off by default)."""
    issued = issue_token(username, DEFAULT_PASSWORD, "mobile_app", None, "127.0.0.1")
    return {"Authorization": f"Bearer {issued.token}"}


def prepare(client, headers, **body):
    response = client.post("/api/mfa/prepare", json=body, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def enrol(client, headers) -> tuple[str, list[str]]:
    """Prepare and activate an authenticator app through the API; returns its key and the recovery codes."""
    enrolment = prepare(client, headers)
    response = client.post("/api/mfa/activate", headers=headers,
                           json={"enrolment_id": enrolment["enrolment_id"], "code": totp_code(enrolment["secret"])})
    assert response.status_code == 200, response.json
    return enrolment["secret"], response.json["recovery_codes"]


def decode_qr_svg(svg: str) -> str:
    """Draw segno's SVG (one path of horizontal strokes) into a greyscale image and read it with zbarimg."""
    zbarimg = shutil.which("zbarimg")
    if zbarimg is None:
        pytest.skip("zbarimg not found (apt-get install -y zbar-tools)")
    size = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))
    dark = [[False] * size for _ in range(size)]
    x = y = 0.0
    for op, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?:\s+(-?[\d.]+))?", re.search(r'class="qrline"[^>]*\bd="([^"]+)"',
                                                                                 svg).group(1)):
        if op == "h":
            for column in range(int(x), int(x + float(a))):
                dark[int(y)][column] = True
            x += float(a)
        else:
            x, y = (float(a), float(b)) if op == "M" else (x + float(a), y + float(b))
    scale = 6
    pixels = b"".join(bytes(0 if dark[r // scale][c // scale] else 255 for c in range(size * scale))
                      for r in range(size * scale))
    result = subprocess.run([zbarimg, "--quiet", "--raw", "-"], input=f"P5 {size * scale} {size * scale} 255\n".encode()
                            + pixels, capture_output=True, check=True)
    return result.stdout.decode().strip()


def test_status_prepare_activate_then_status_again(client, make_employee, mfa_on, frozen_clock, db):
    mfa_on("optional")
    make_employee(username="ann")
    headers = bearer("ann")
    status = client.get("/api/mfa/status", headers=headers)
    assert status.status_code == 200
    assert status.json == {"mfa_enabled": True, "mode": "optional", "enrolled": False, "required_for_me": False,
                           "methods": [{"name": "totp", "label": "Authenticator app", "enrolled": False}],
                           "recovery_codes_left": None}

    response = client.post("/api/mfa/prepare", headers=headers)  # no body at all
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    enrolment = response.json
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/Back%20Office:ann?secret=" + enrolment["secret"])
    assert enrolment["secret_grouped"].replace(" ", "") == enrolment["secret"]
    assert (enrolment["digits"], enrolment["period"], enrolment["algorithm"]) == (6, 30, "SHA1")
    assert decode_qr_svg(enrolment["qr_svg"]) == enrolment["otpauth_uri"]  # as a phone's camera reads it

    response = client.post("/api/mfa/activate", headers=headers,
                           json={"enrolment_id": enrolment["enrolment_id"], "code": totp_code(enrolment["secret"])})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    codes = response.json["recovery_codes"]
    assert response.json["activated"] is True and len(codes) == 10 and len(set(codes)) == 10
    assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.event == "mfa.signup"))

    status = client.get("/api/mfa/status", headers=headers).json
    assert status["enrolled"] is True and status["recovery_codes_left"] == 10
    assert {m["name"]: m["enrolled"] for m in status["methods"]} == {"totp": True, "recovery": True}

    # Shown once: activating again, or a new Signup over the enrolment, is refused (DESIGN.md §6.8).
    again = client.post("/api/mfa/activate", headers=headers,
                        json={"enrolment_id": enrolment["enrolment_id"], "code": totp_code(enrolment["secret"])})
    assert again.status_code == 409 and again.json["errorcode"] == "alreadyenrolled"
    refused = client.post("/api/mfa/prepare", headers=headers, json={})
    assert refused.status_code == 409 and refused.json["errorcode"] == "alreadyenrolled"


def test_mandatory_mode_and_an_access_policy_make_mfa_required_for_me(client, make_employee, mfa_on, db):
    mfa_on("optional")
    policy = AccessPolicy(name="Kitchen", methods="totp", mfa_required=True)
    db.session.add(policy)
    db.session.commit()
    make_employee(username="ann", access_policy_id=policy.id)
    make_employee(username="bob")
    assert client.get("/api/mfa/status", headers=bearer("ann")).json["required_for_me"] is True
    assert client.get("/api/mfa/status", headers=bearer("bob")).json["required_for_me"] is False
    settings.save({"mfa.mode": "mandatory"})
    status = client.get("/api/mfa/status", headers=bearer("bob")).json
    assert status["mode"] == "mandatory" and status["required_for_me"] is True


def test_mfa_status_off_refuses_the_operations(client, make_employee):
    make_employee(username="ann")
    headers = bearer("ann")
    status = client.get("/api/mfa/status", headers=headers).json
    assert status["mfa_enabled"] is False and status["required_for_me"] is False
    for url, body in [("/api/mfa/prepare", {}), ("/api/mfa/activate", {"enrolment_id": "x", "code": "123456"}),
                      ("/api/mfa/verify", {"code": "123456"})]:
        response = client.post(url, json=body, headers=headers)
        assert response.status_code == 403 and response.json["errorcode"] == "mfadisabled", url


def test_an_access_policy_without_the_app_refuses_prepare(client, make_employee, mfa_on, db):
    mfa_on("optional", **{"mfa.methods.email": True})
    policy = AccessPolicy(name="Email only", methods="email")
    db.session.add(policy)
    db.session.commit()
    make_employee(username="ann", access_policy_id=policy.id)
    response = client.post("/api/mfa/prepare", json={}, headers=bearer("ann"))
    assert response.status_code == 403 and response.json["errorcode"] == "methodnotavailable"


def test_after_a_reset_prepare_needs_the_enrolment_code(client, make_employee, admin, mfa_on, frozen_clock, db):
    mfa_on("optional", **{"mfa.require_enrolment_code": True})
    ann = make_employee(username="ann", email=None)
    enrol(client, bearer("ann"))
    code = mfa.reset(db.session.get(Employee, ann.id), db.session.get(Employee, admin.id), "lost phone")
    assert code  # no email address: the administrator hands it over
    headers = bearer("ann")
    missing = client.post("/api/mfa/prepare", json={}, headers=headers)
    assert missing.status_code == 403 and missing.json["errorcode"] == "enrolmentcoderequired"
    assert missing.json["field"] == "enrolment_code"
    wrong = client.post("/api/mfa/prepare", json={"enrolment_code": "AAAAA-AAAAA"}, headers=headers)
    assert wrong.status_code == 403 and wrong.json["errorcode"] == "enrolmentcoderefused"
    assert db.session.get(Employee, ann.id).mfa_failed_count == 1  # counted, as on the page
    assert prepare(client, headers, enrolment_code=code)["enrolment_id"]


def test_a_pending_enrolment_belongs_to_the_token_that_prepared_it(client, make_employee, mfa_on, frozen_clock, db):
    mfa_on("optional")
    ann = make_employee(username="ann")
    first, second = bearer("ann"), bearer("ann")
    enrolment = prepare(client, first)
    code = totp_code(enrolment["secret"])
    for headers, enrolment_id in [(second, enrolment["enrolment_id"]), (first, enrolment["enrolment_id"] + "x"),
                                  (first, "not-an-enrolment")]:
        response = client.post("/api/mfa/activate", headers=headers,
                               json={"enrolment_id": enrolment_id, "code": code})
        assert response.status_code == 404 and response.json["errorcode"] == "enrolmentnotfound"
        assert response.json["field"] == "enrolment_id"
    assert db.session.get(Employee, ann.id).mfa_failed_count == 0
    # A new prepare replaces the pending enrolment: the old handle no longer works, even where ids are reused.
    newer = prepare(client, first)
    response = client.post("/api/mfa/activate", headers=first,
                           json={"enrolment_id": enrolment["enrolment_id"], "code": totp_code(newer["secret"])})
    assert response.status_code == 404
    wrong = client.post("/api/mfa/activate", headers=first,
                        json={"enrolment_id": newer["enrolment_id"], "code": "000000"})
    assert wrong.status_code == 401 and wrong.json["errorcode"] == "invalidotp"
    assert db.session.get(Employee, ann.id).mfa_failed_count == 1
    assert client.post("/api/mfa/activate", headers=first, json={
        "enrolment_id": newer["enrolment_id"], "code": totp_code(newer["secret"])}).status_code == 200


def test_verify_accepts_a_code_once_and_counts_wrong_ones_to_the_lock(client, make_employee, mfa_on, frozen_clock,
                                                                      db):
    mfa_on("optional", **{"mfa.failed_limit": 3})
    ann = make_employee(username="ann")
    headers = bearer("ann")
    key, recovery = enrol(client, headers)
    frozen_clock.advance(timedelta(seconds=30))  # the activation used this time step's code
    code = totp_code(key)
    ok = client.post("/api/mfa/verify", json={"code": code}, headers=headers)
    assert ok.status_code == 200 and ok.json == {"valid": True, "method": "totp", "recovery_codes_left": 10}
    replay = client.post("/api/mfa/verify", json={"code": code, "method": "totp"}, headers=headers)
    assert replay.status_code == 401 and replay.json["errorcode"] == "invalidotp"
    used = client.post("/api/mfa/verify", json={"code": recovery[0]}, headers=headers)
    assert used.json == {"valid": True, "method": "recovery", "recovery_codes_left": 9}
    again = client.post("/api/mfa/verify", json={"code": recovery[0], "method": "recovery"}, headers=headers)
    assert again.status_code == 401  # a recovery code works once
    assert db.session.get(Employee, ann.id).mfa_failed_count == 1  # the success in between reset the count
    wrong = client.post("/api/mfa/verify", json={"code": "123456"}, headers=headers)
    assert wrong.status_code == 401 and wrong.json["errorcode"] == "invalidotp"
    locked = client.post("/api/mfa/verify", json={"code": "654321"}, headers=headers)
    assert locked.status_code == 403 and locked.json["errorcode"] == "accountlocked" and locked.json["retry_after"]
    frozen_clock.advance(timedelta(seconds=30))
    still = client.post("/api/mfa/verify", json={"code": totp_code(key)}, headers=headers)
    assert still.status_code == 403 and still.json["errorcode"] == "accountlocked"  # even a right code
    events = [e.event for e in db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.id))]
    assert events.count("mfa.verify_failed") == 4 and "mfa.locked" in events


def test_a_refused_code_is_counted_with_the_time_and_address_in_one_update(client, make_employee, mfa_on,
                                                                           frozen_clock, db):
    """The load bench's code check: the token, its employee and the settings version are one read,
    the failure one UPDATE … RETURNING, and nothing is read again after the commit."""
    import sqlalchemy as sa

    mfa_on()
    ann_id = make_employee(username="ann").id
    headers = bearer("ann")
    enrol(client, headers)
    client.post("/api/mfa/verify", json={"code": "000001"}, headers=headers)  # notes the token's use
    frozen_clock.advance(timedelta(seconds=5))
    statements: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        statements.append(" ".join(statement.split()).lower())

    db.session.remove()
    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        refused = client.post("/api/mfa/verify", json={"code": "000000"}, headers=headers)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)
    assert refused.status_code == 401 and refused.json["errorcode"] == "invalidotp"
    reads_of_the_employee = [s for s in statements if s.startswith("select") and "from employee" in s
                             and "api_token" not in s]
    updates = [s for s in statements if s.startswith("update employee")]
    assert sum("from api_token" in s for s in statements) == 1
    assert reads_of_the_employee == []
    assert len(updates) == 1 and "mfa_last_failure_at" in updates[0] and "returning" in updates[0]
    row = db.session.get(Employee, ann_id)
    assert row.mfa_failed_count == 2 and row.mfa_last_failure_at == frozen_clock.utcnow()


def test_activate_with_wrong_codes_locks_too(client, make_employee, mfa_on, frozen_clock):
    mfa_on("optional", **{"mfa.failed_limit": 2})
    make_employee(username="ann")
    headers = bearer("ann")
    enrolment = prepare(client, headers)
    body = {"enrolment_id": enrolment["enrolment_id"], "code": "000000"}
    assert client.post("/api/mfa/activate", json=body, headers=headers).json["errorcode"] == "invalidotp"
    assert client.post("/api/mfa/activate", json=body, headers=headers).json["errorcode"] == "accountlocked"
    body["code"] = totp_code(enrolment["secret"])
    response = client.post("/api/mfa/activate", json=body, headers=headers)
    assert response.status_code == 403 and response.json["errorcode"] == "accountlocked"


@pytest.mark.parametrize(("url", "body", "field"), [
    ("/api/mfa/verify", {}, "code"),
    ("/api/mfa/verify", {"code": 123456}, "code"),
    ("/api/mfa/verify", {"code": "123456", "method": "pigeon"}, "method"),
    ("/api/mfa/verify", {"code": "1" * 65}, "code"),
    ("/api/mfa/activate", {"code": "123456"}, "enrolment_id"),
    ("/api/mfa/activate", {"enrolment_id": ["x"], "code": "123456"}, "enrolment_id"),
    ("/api/mfa/prepare", {"enrolment_code": 7}, "enrolment_code"),
])
def test_missing_fields_and_wrong_types_are_invalid_requests(client, make_employee, mfa_on, url, body, field):
    mfa_on("optional")
    make_employee(username="ann")
    response = client.post(url, json=body, headers=bearer("ann"))
    assert response.status_code == 400
    assert response.json["errorcode"] == "invalidrequest" and response.json["field"] == field


def test_a_body_that_is_not_a_json_object_is_an_invalid_request(client, make_employee, mfa_on):
    mfa_on("optional")
    make_employee(username="ann")
    headers = {**bearer("ann"), "Content-Type": "application/json"}
    for data in ("{not json", "[1, 2]", '"code"'):
        response = client.post("/api/mfa/verify", data=data, headers=headers)
        assert response.status_code == 400 and response.json["errorcode"] == "invalidrequest", data


def test_enforcement_for_administrators_only(client, make_employee, admin, mfa_on, frozen_clock):
    make_employee(username="Bob", status_level=8)
    make_employee(username="ann")
    as_admin, as_manager = bearer("admin"), bearer("Bob")

    def ask(username, headers=as_admin):
        return client.get("/api/mfa/enforcement", query_string={"username": username}, headers=headers)

    assert ask("ann").json == {"username": "ann", "must_use_mfa": False, "enrolled": False, "mfa_enabled": False}
    mfa_on("optional")
    assert ask("ann").json["must_use_mfa"] is False
    enrol(client, bearer("ann"))
    assert ask("ANN").json == {"username": "ann", "must_use_mfa": True, "enrolled": True, "mfa_enabled": True}
    mfa_on("mandatory")
    # the administrator's token was issued with a password alone: not enough for this call now
    stale = ask("bob")
    assert stale.status_code == 403 and stale.json["errorcode"] == "mfarequired"
    refused = ask("ann", as_manager)
    assert refused.status_code == 403 and refused.json["errorcode"] == "forbidden"
    secret, _codes = enrol(client, as_admin)
    settings.save({"mfa.mobile_app": True})
    frozen_clock.advance(timedelta(seconds=30))
    issued = issue_token("admin", DEFAULT_PASSWORD, "mobile_app", totp_code(secret), "127.0.0.1")
    as_admin = {"Authorization": f"Bearer {issued.token}"}
    assert ask("bob", as_admin).json == {"username": "Bob", "must_use_mfa": True, "enrolled": False,
                                         "mfa_enabled": True}
    unknown = ask("nobody", as_admin)
    assert unknown.status_code == 404 and unknown.json["errorcode"] == "notfound"
    missing = client.get("/api/mfa/enforcement", headers=as_admin)
    assert missing.status_code == 400 and missing.json["field"] == "username"


def test_the_signed_in_browser_needs_its_csrf_token_to_post(client, make_employee, mfa_on, frozen_clock):
    mfa_on("optional")
    make_employee(username="ann")
    log_in(client, "ann")
    assert post_form(client, "/login/skip", {}, form_url="/login/verify").headers["Location"] == "/"
    assert client.get("/api/mfa/status").json["enrolled"] is False  # a GET needs no token
    refused = client.post("/api/mfa/prepare", json={})
    assert refused.status_code == 400 and refused.json["errorcode"] == "csrffailed"
    header = {"X-CSRFToken": csrf_token(client, "/account/profile")}
    enrolment = prepare(client, header)
    body = {"enrolment_id": enrolment["enrolment_id"], "code": totp_code(enrolment["secret"])}
    # bound to this browser's session: a token of the same employee cannot finish it
    other = client.post("/api/mfa/activate", json=body, headers=bearer("ann"))
    assert other.status_code == 404
    assert client.post("/api/mfa/activate", json=body).json["errorcode"] == "csrffailed"
    assert client.post("/api/mfa/activate", json=body, headers=header).json["activated"] is True


def test_unknown_revoked_and_expired_tokens_and_no_token(client, make_employee, frozen_clock, db):
    ann = make_employee(username="ann")
    for headers in ({"Authorization": "Bearer bo_nonsense"}, {"Authorization": "Bearer "}):
        response = client.get("/api/mfa/status", headers=headers)
        assert response.status_code == 401 and response.json["errorcode"] == "invalidtoken"
    response = client.get("/api/mfa/status")
    assert response.status_code == 401 and response.json["errorcode"] == "notsignedin"
    issued = issue_token("ann", DEFAULT_PASSWORD, "mobile_app", None, "127.0.0.1")
    headers = {"Authorization": f"Bearer {issued.token}"}
    assert client.get("/api/mfa/status", headers=headers).status_code == 200
    employee = db.session.get(Employee, ann.id)
    assert revoke_token(employee, issued.record.id, employee, "lost phone")
    response = client.post("/api/mfa/verify", json={"code": "123456"}, headers=headers)
    assert response.status_code == 401 and response.json["errorcode"] == "invalidtoken"
    headers = bearer("ann")
    frozen_clock.advance(timedelta(days=31))
    assert client.get("/api/mfa/status", headers=headers).json["errorcode"] == "invalidtoken"


def test_a_browser_half_way_through_sign_in_gets_mfapending(client, make_employee, mfa_on):
    mfa_on("mandatory")
    make_employee(username="ann")
    headers = bearer("ann")
    assert log_in(client, "ann").headers["Location"] == "/login/verify"
    for method, url in [("GET", "/api/mfa/status"), ("POST", "/api/mfa/prepare"), ("GET", "/api/mfa/enforcement")]:
        response = client.open(url, method=method)
        assert response.status_code == 401 and response.json["errorcode"] == "mfapending", url
    # nor does a token help a browser in that state
    assert client.get("/api/mfa/status", headers=headers).json["errorcode"] == "mfapending"
