"""POST /api/token (seed 003): a password, and a code when "Enable MFA for the mobile app" is
on and the employee must use MFA; JSON errors with stable errorcodes; tokens stored hashed,
expiring, revoked with every session."""
from datetime import timedelta

import pytest

from portal import settings
from portal.mfa import service as mfa
from portal.models import ApiToken, AuditEvent
from portal.services.api_tokens import MFA_REQUIRED, bearer_token
from tests.authenticator import totp_code

PASSWORD = "correct horse battery"


@pytest.fixture
def ann(make_employee):
    return make_employee(username="ann", status_level=1)


def ask(client, as_json=False, **fields):
    body = {"username": "ann", "password": PASSWORD, "service": "mobile_app"} | fields
    body = {k: v for k, v in body.items() if v is not None}
    return client.post("/api/token", json=body) if as_json else client.post("/api/token", data=body)


def events(db, name):
    return db.session.scalars(db.select(AuditEvent).where(AuditEvent.event == name)).all()


@pytest.fixture
def mfa_for_the_app(db):
    settings.save({"mfa.status": True, "mfa.mode": "optional", "mfa.mobile_app": True})


@pytest.fixture
def enrolled(db, ann, frozen_clock):
    settings.save({"mfa.status": True})
    enrolment = mfa.prepare(ann)
    codes = mfa.activate(ann, enrolment.credential.id, totp_code(enrolment.secret))
    frozen_clock.advance(timedelta(seconds=30))
    return enrolment.secret, codes


@pytest.mark.parametrize("as_json", [False, True])
def test_a_password_gets_a_token_form_encoded_or_json(db, client, ann, as_json, frozen_clock):
    response = ask(client, as_json=as_json)
    assert response.status_code == 200
    body = response.json
    assert body["token_type"] == "Bearer" and body["service"] == "mobile_app"
    assert body["token"].startswith("bo_") and len(body["token"]) >= 43  # 256 random bits
    assert body["expires_at"] == (frozen_clock.utcnow() + timedelta(days=30)).isoformat(timespec="seconds") + "Z"
    [row] = db.session.scalars(db.select(ApiToken)).all()
    assert body["token"] not in row.token_digest and row.employee_id == ann.id
    assert bearer_token(body["token"]).id == row.id
    [issued] = events(db, "api.token_issued")
    assert issued.subject_id == ann.id and body["token"] not in str(issued.details)


def test_unknown_user_and_wrong_password_read_the_same(db, client, ann):
    wrong = ask(client, password="not the password")
    unknown = ask(client, username="nobody")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.json == {"error": "Wrong username or password.", "errorcode": "invalidlogin"}
    assert len(events(db, "api.token_refused")) == 2


@pytest.mark.parametrize("service", ["no_such_app", "", None])
def test_unknown_missing_or_disabled_service(db, client, ann, service):
    response = ask(client, service=service)
    expected = "invalidrequest" if not service else "servicenotavailable"
    assert response.json["errorcode"] == expected
    settings.save({"api.services": {"mobile_app": False}})
    assert ask(client).json["errorcode"] == "servicenotavailable"


def test_with_the_setting_off_a_password_suffices_even_when_enrolled(db, client, enrolled):
    assert ask(client).status_code == 200


class TestEnableMfaForTheMobileApp:
    def test_an_enrolled_employee_without_a_code_is_refused_with_the_seeds_words(
            self, db, client, enrolled, mfa_for_the_app):
        response = ask(client)
        assert response.status_code == 403
        assert response.json == {"error": MFA_REQUIRED, "errorcode": "mfarequired",
                                 "methods": ["totp", "recovery"]}
        assert MFA_REQUIRED == "Multi-factor authentication is required for this service"
        assert db.session.scalars(db.select(ApiToken)).all() == []

    def test_a_code_gets_the_token_once(self, db, client, enrolled, mfa_for_the_app):
        secret, _codes = enrolled
        code = totp_code(secret)
        assert ask(client, otp=code).status_code == 200
        replay = ask(client, otp=code)
        assert replay.status_code == 401 and replay.json["errorcode"] == "invalidotp"

    def test_a_recovery_code_works_once(self, db, client, enrolled, mfa_for_the_app):
        _secret, codes = enrolled
        assert ask(client, otp=codes[0]).status_code == 200
        assert ask(client, otp=codes[0]).json["errorcode"] == "invalidotp"

    def test_mandatory_mode_refuses_an_employee_not_enrolled(self, db, client, ann, mfa_for_the_app):
        settings.save({"mfa.mode": "mandatory"})
        response = ask(client, otp="123456")
        assert response.status_code == 403 and response.json["errorcode"] == "mfarequired"
        assert "Sign up" in response.json["hint"]

    def test_optional_mode_lets_an_employee_not_enrolled_in_with_a_password(self, db, client, ann,
                                                                              mfa_for_the_app):
        assert ask(client).status_code == 200

    def test_wrong_codes_lock_the_second_step(self, db, client, enrolled, mfa_for_the_app):
        settings.save({"mfa.failed_limit": 3})
        secret, _codes = enrolled
        wrong = "000000" if totp_code(secret) != "000000" else "111111"
        statuses = [ask(client, otp=wrong).json["errorcode"] for _ in range(3)]
        assert statuses == ["invalidotp", "invalidotp", "accountlocked"]
        locked = ask(client, otp=totp_code(secret))  # even the right code, while locked
        assert locked.status_code == 403 and locked.json["errorcode"] == "accountlocked"


def test_tokens_expire(db, client, ann, frozen_clock):
    settings.save({"api.token_days": 2})
    token = ask(client).json["token"]
    frozen_clock.advance(timedelta(days=2) - timedelta(seconds=1))
    assert bearer_token(token) is not None
    frozen_clock.advance(timedelta(seconds=1))
    assert bearer_token(token) is None


@pytest.mark.parametrize("what", ["reset", "deactivate", "password"])
def test_reset_mfa_deactivation_and_a_new_password_revoke_every_token(db, client, ann, admin, what):
    from portal.services.employees import set_password, update_employee

    tokens = [ask(client).json["token"] for _ in range(2)]
    if what == "reset":
        mfa.reset(ann, admin, "lost phone")
    elif what == "deactivate":
        update_employee(ann, {"active": False}, admin)
    else:
        set_password(ann, "a brand new password 42", admin)
    assert [bearer_token(t) for t in tokens] == [None, None]
    [revoked] = events(db, "api.tokens_revoked")
    assert revoked.subject_id == ann.id and revoked.details["count"] == 2


def test_bad_requests_are_json_errors(db, client, ann):
    cases = [
        client.post("/api/token", data="{broken", content_type="application/json"),
        client.post("/api/token", json=["ann", PASSWORD]),
        client.post("/api/token", json={"username": 5, "password": PASSWORD, "service": "mobile_app"}),
        client.post("/api/token", data={"username": "ann"}),
    ]
    for response in cases:
        assert response.status_code == 400 and response.json["errorcode"] == "invalidrequest"
    huge = client.post("/api/token", data={"username": "ann", "password": "x" * (70 * 1024), "service": "m"})
    assert huge.status_code == 413 and huge.json["errorcode"] == "toolarge"
    assert client.get("/api/token").json["errorcode"] == "methodnotallowed"


def test_the_token_is_not_in_any_url_or_cookie(db, client, ann):
    response = ask(client)
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


def test_cors_only_for_listed_origins(app, db, client, ann):
    assert "Access-Control-Allow-Origin" not in ask(client).headers
    evil = client.post("/api/token", data={"username": "ann", "password": PASSWORD, "service": "mobile_app"},
                       headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in evil.headers
    app.config["API_CORS_ORIGINS"] = ("https://app.example.com",)
    try:
        preflight = client.options("/api/token", headers={"Origin": "https://app.example.com",
                                                          "Access-Control-Request-Method": "POST"})
        assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
        assert "Access-Control-Allow-Credentials" not in preflight.headers
        assert "Origin" in preflight.headers["Vary"]
    finally:
        app.config["API_CORS_ORIGINS"] = ()


@pytest.mark.parametrize("setting", ["*", "null", "app.example.com", "https://a.example, *"])
def test_a_wildcard_or_malformed_cors_origin_stops_start_up(setting):
    from config import _cors_origins

    with pytest.raises(RuntimeError, match="API_CORS_ORIGINS"):
        _cors_origins(setting)
    assert _cors_origins(" https://app.example.com/ ,http://till.local:8080") == (
        "https://app.example.com", "http://till.local:8080")


# --- what the security review of the API asked for -------------------------------------------

def test_a_token_issued_under_an_old_session_token_does_not_work(db, client, ann):
    """A password change or Reset MFA landing while a token is being issued still ends it."""
    token = ask(client).json["token"]
    ann.rotate_session_token()  # what end_all_access does, without finding this token to revoke
    db.session.commit()
    assert bearer_token(token) is None


def test_password_only_tokens_stop_when_mfa_is_asked_of_the_app(db, client, enrolled):
    secret, _codes = enrolled
    old = ask(client).json["token"]  # "Enable MFA for the mobile app" is off: a password suffices
    settings.save({"mfa.mobile_app": True})
    assert bearer_token(old) is None
    new = ask(client, otp=totp_code(secret)).json["token"]
    assert bearer_token(new) is not None
    settings.save({"mfa.mobile_app": False})
    assert bearer_token(old) is not None


def test_a_recovery_code_used_for_a_token_is_told_by_email(db, client, enrolled, mfa_for_the_app, smtp_server):
    _secret, codes = enrolled
    assert ask(client, otp=codes[0]).status_code == 200
    assert [m["Subject"] for m in smtp_server] == ["A recovery code was used on your account"]


def test_being_asked_for_the_code_does_not_spend_the_failed_password_budget(app, db, client, enrolled,
                                                                          mfa_for_the_app):
    before = app.config["RATELIMIT_LOGIN_FAILURES"]
    app.config["RATELIMIT_LOGIN_FAILURES"] = "3 per minute"
    try:
        statuses = [ask(client).json["errorcode"] for _ in range(5)]
    finally:
        app.config["RATELIMIT_LOGIN_FAILURES"] = before
    assert statuses == ["mfarequired"] * 5


def test_service_names_tell_nothing_without_the_password(db, client, ann):
    response = ask(client, password="not the password", service="stock_scanner")
    assert response.status_code == 401 and response.json["errorcode"] == "invalidlogin"


@pytest.mark.parametrize("path", ["/api/token", "/pos/api/link"])
def test_deeply_nested_json_is_a_bad_request_not_a_crash(client, db, path):
    from tests.integration.test_pos_calls import pos_token

    body = "[" * 2_000 + "]" * 2_000  # under 4 KB, deeper than the parser goes
    response = client.post(path, data=body, content_type="application/json",
                           headers={"X-CSRFToken": pos_token(client)})
    assert response.status_code == 400 and response.json["errorcode"] == "invalidrequest"


def test_a_lapsed_pending_sign_in_gets_json_from_the_api(db, client, ann, frozen_clock):
    from tests.conftest import log_in

    settings.save({"mfa.status": True})
    log_in(client, "ann")
    frozen_clock.advance(timedelta(minutes=20))
    response = client.get("/api/mfa/status")
    assert response.status_code == 401 and response.json["errorcode"] == "notsignedin"
