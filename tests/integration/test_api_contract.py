"""The API's contract: portal/api/openapi.json is valid OpenAPI 3.1, lists exactly the app's /api
routes, and every answer of the running app matches it, for real calls (each documented status
of each operation, at least once) and for schemathesis' generated ones, bad input included."""
import json
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import portal.api
from portal import settings
from portal.extensions import limiter
from portal.mfa import service as mfa
from portal.services.api_tokens import SERVICE_SCOPES, issue_token, revoke_token
from tests.authenticator import totp_code
from tests.conftest import csrf_token, log_in, post_form
from tests.factories import DEFAULT_PASSWORD

DOCUMENT = Path(portal.api.__file__).with_name("openapi.json")
DOC = json.loads(DOCUMENT.read_text())
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
HUGE = "x" * (70 * 1024)


@pytest.fixture
def api_schema(app):
    """The document as the running app serves it."""
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


def _documented_statuses(path: str, method: str) -> set[int]:
    return {int(code) for code in DOC["paths"][path][method.lower()]["responses"]}


class Contract:
    """Calls the app through the test client and checks each answer against the document."""

    def __init__(self, schema, client):
        self.schema = schema
        self.client = client
        self.seen = defaultdict(set)

    def call(self, method: str, path: str, expect: int, errorcode: str | None = None, **kwargs):
        response = self.client.open(path, method=method, **kwargs)
        assert response.status_code == expect, (method, path, response.status_code, response.get_data(as_text=True))
        path = path.split("?")[0]
        assert expect in _documented_statuses(path, method), f"{method} {path} answers an undocumented {expect}"
        assert response.mimetype == "application/json"
        self.schema[path][method].validate_response(response)  # raises with the differences
        if errorcode:
            assert response.json["errorcode"] == errorcode
        self.seen[(path, method)].add(expect)
        return response

    def assert_every_documented_status_seen(self, path: str, method: str) -> None:
        assert self.seen[(path, method)] == _documented_statuses(path, method)


@pytest.fixture
def contract(api_schema, client):
    return Contract(api_schema, client)


def bearer(username: str) -> dict[str, str]:
    issued = issue_token(username, DEFAULT_PASSWORD, "mobile_app", None, "127.0.0.1")
    return {"Authorization": f"Bearer {issued.token}"}


# --- the document itself ---------------------------------------------------------------------

def test_the_document_is_valid_openapi_3_1_and_served_as_kept_in_the_repo(app, client, api_schema):
    api_schema.validate()  # against the OpenAPI 3.1 meta-schema; raises when invalid
    assert DOC["openapi"].startswith("3.1.")
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_data() == DOCUMENT.read_bytes()


def test_the_document_lists_exactly_the_apps_api_routes(app):
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = rule.rule.replace("<", "{").replace(">", "}")
            routes |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in DOC["paths"].items() for method in item}
    assert documented == routes


def test_every_error_answer_names_its_errorcodes():
    """Each documented error has the error schema with an enum of errorcodes; each success, a schema."""
    for path, item in DOC["paths"].items():
        for method, operation in item.items():
            for status, answer in operation["responses"].items():
                schema = answer["content"]["application/json"]["schema"]
                if int(status) >= 400:
                    assert schema["allOf"] == [{"$ref": "#/components/schemas/Error"}], (path, method, status)
                    assert schema["properties"]["errorcode"]["enum"], (path, method, status)


def test_the_validator_is_not_vacuous(api_schema, client):
    """An answer that breaks the document does fail validation, so the checks below prove something:
    `notsignedin` is not among the errorcodes of GET /api/openapi.json's 401."""
    from schemathesis.core.failures import Failure

    response = client.get("/api/mfa/status")
    api_schema["/api/mfa/status"]["GET"].validate_response(response)
    with pytest.raises(Failure, match='"notsignedin" is not one of'):
        api_schema["/api/openapi.json"]["GET"].validate_response(response)


# --- real answers, each documented status at least once ---------------------------------------

def test_token_answers(contract, client, make_employee, frozen_clock):
    ann = make_employee(username="ann")
    path = "/api/token"
    good = {"username": "ann", "password": DEFAULT_PASSWORD, "service": "mobile_app"}
    contract.call("POST", path, 200, data=good)
    contract.call("POST", path, 200, json=good)
    contract.call("POST", path, 400, "invalidrequest", json={"username": "ann"})
    contract.call("POST", path, 400, "invalidrequest", data="{oops", content_type="application/json")
    contract.call("POST", path, 400, "invalidrequest", json={**good, "password": 12})
    contract.call("POST", path, 401, "invalidlogin", json={**good, "password": "wrong"})
    contract.call("POST", path, 403, "servicenotavailable", json={**good, "service": "fax"})
    contract.call("POST", path, 413, "toolarge", json={**good, "otp": HUGE})

    settings.save({"mfa.status": True, "mfa.mode": "optional", "mfa.mobile_app": True, "mfa.failed_limit": 2})
    enrolment = mfa.prepare(ann)
    mfa.activate(ann, enrolment.credential.id, totp_code(enrolment.secret))
    response = contract.call("POST", path, 403, "mfarequired", json=good)
    assert response.json["error"] == "Multi-factor authentication is required for this service"
    contract.call("POST", path, 401, "invalidotp", json={**good, "otp": "000000"})
    response = contract.call("POST", path, 403, "accountlocked", json={**good, "otp": "000001"})
    assert response.json["retry_after"].endswith("Z")
    for _ in range(40):
        response = client.post(path, json={**good, "service": "fax"})
        if response.status_code == 429:
            break
    contract.call("POST", path, 429, "ratelimited", json=good)
    contract.assert_every_documented_status_seen(path, "POST")


def test_token_code_answers(contract, client, make_employee, httpserver, frozen_clock):
    from tests.integration.test_sms_gateway import Gateway, configure
    from tests.integration.test_sms_otp import sent_code

    path = "/api/token/code"
    settings.save({"mfa.status": True, "mfa.mode": "mandatory", "mfa.mobile_app": True, "mfa.methods.sms": True,
                   "mfa.failed_limit": 2})
    gateway = Gateway(httpserver)
    configure(url=gateway.url(), otp_template="Back Office code {code} ({minutes} min)")
    gateway.answer()
    ann = make_employee(username="ann", mobile_phone="+447700900123")
    make_employee(username="bob")
    credential = mfa.prepare(ann, method="sms", binding="signup")
    mfa.activate(ann, credential.id, sent_code(gateway), binding="signup")
    frozen_clock.advance(timedelta(minutes=1))
    good = {"username": "ann", "password": DEFAULT_PASSWORD, "service": "mobile_app", "method": "sms"}

    response = contract.call("POST", path, 200, data=good)
    assert response.json["sent_to"] == "+44•••••••123"
    token = contract.call("POST", "/api/token", 200, json={**good, "otp": sent_code(gateway),
                                                           "challenge": response.json["challenge"]})
    assert token.json["token_type"] == "Bearer"
    contract.call("POST", path, 429, "codealreadysent", json=good)
    contract.call("POST", path, 400, "invalidrequest", json={**good, "method": None})
    assert contract.call("POST", path, 400, "methodnotavailable", json={**good, "method": "email"}
                         ).json["methods"] == ["sms", "recovery"]
    contract.call("POST", path, 401, "invalidlogin", json={**good, "password": "wrong"})
    contract.call("POST", path, 403, "servicenotavailable", json={**good, "service": "fax"})
    contract.call("POST", path, 403, "mfarequired", json={**good, "username": "bob"})
    contract.call("POST", path, 413, "toolarge", json={**good, "method": HUGE})
    frozen_clock.advance(timedelta(seconds=31))
    httpserver.clear_all_handlers()
    gateway.answer(body="error", status=500)
    contract.call("POST", path, 502, "codenotsent", json=good)
    for otp in ("000000", "000001"):
        client.post("/api/token", json={**good, "otp": otp, "challenge": "x"})
    contract.call("POST", path, 403, "accountlocked", json=good)
    settings.save({"mfa.mobile_app": False})
    contract.call("POST", path, 409, "mfanotrequired", json=good)
    for _ in range(40):
        if client.post(path, json={**good, "service": "fax"}).status_code == 429:
            break
    contract.call("POST", path, 429, "ratelimited", json=good)
    contract.assert_every_documented_status_seen(path, "POST")


def test_status_and_document_answers(contract, client, make_employee, frozen_clock):
    make_employee(username="ann")
    headers = bearer("ann")
    contract.call("GET", "/api/mfa/status", 200, headers=headers)
    contract.call("GET", "/api/mfa/status", 401, "notsignedin")
    contract.call("GET", "/api/mfa/status", 401, "invalidtoken", headers={"Authorization": "Bearer nope"})
    settings.save({SERVICE_SCOPES: {"mobile_app": ["verify"]}})
    contract.call("GET", "/api/mfa/status", 403, "outofscope", headers=headers)
    settings.save({SERVICE_SCOPES: {}})
    contract.call("GET", "/api/openapi.json", 200)
    settings.save({"mfa.status": True, "mfa.mode": "mandatory"})
    contract.call("GET", "/api/mfa/status", 200, headers=headers)
    log_in(client, "ann")  # half-way: the code screen
    contract.call("GET", "/api/mfa/status", 401, "mfapending", headers=headers)
    contract.call("GET", "/api/openapi.json", 401, "mfapending")
    contract.assert_every_documented_status_seen("/api/mfa/status", "GET")
    contract.assert_every_documented_status_seen("/api/openapi.json", "GET")


def test_prepare_and_activate_answers(contract, client, make_employee, frozen_clock):
    make_employee(username="ann")
    headers = bearer("ann")
    prepare, activate = "/api/mfa/prepare", "/api/mfa/activate"
    contract.call("POST", prepare, 403, "mfadisabled", headers=headers)
    contract.call("POST", activate, 403, "mfadisabled", headers=headers, json={"enrolment_id": "x", "code": "1"})
    settings.save({"mfa.status": True, "mfa.mode": "optional", "mfa.failed_limit": 2})
    contract.call("POST", prepare, 401, "notsignedin")
    contract.call("POST", activate, 401, "invalidtoken", headers={"Authorization": "Bearer x"}, json={})
    contract.call("POST", prepare, 400, "invalidrequest", headers=headers, json={"enrolment_code": ["x"]})
    contract.call("POST", activate, 400, "invalidrequest", headers=headers, json={"code": "123456"})
    contract.call("POST", prepare, 413, "toolarge", headers=headers, json={"enrolment_code": HUGE})
    contract.call("POST", activate, 413, "toolarge", headers=headers, data={"code": HUGE})
    enrolment = contract.call("POST", prepare, 200, headers=headers, json={}).json
    body = {"enrolment_id": enrolment["enrolment_id"], "code": "000000"}
    contract.call("POST", activate, 404, "enrolmentnotfound", headers=headers, json={**body, "enrolment_id": "x"})
    contract.call("POST", activate, 401, "invalidotp", headers=headers, json=body)
    contract.call("POST", activate, 403, "accountlocked", headers=headers, json=body)
    frozen_clock.advance(timedelta(minutes=16))  # past the lock
    contract.call("POST", activate, 200, headers=headers, data={**body, "code": totp_code(enrolment["secret"])})
    contract.call("POST", prepare, 409, "alreadyenrolled", headers=headers)
    contract.call("POST", activate, 409, "alreadyenrolled", headers=headers, json=body)

    make_employee(username="bob")
    log_in(client, "bob")
    post_form(client, "/login/skip", {}, form_url="/login/verify")
    contract.call("POST", prepare, 400, "csrffailed", json={})
    contract.call("POST", activate, 400, "csrffailed", json=body)
    csrf = {"X-CSRFToken": csrf_token(client, "/account/profile")}
    for _ in range(40):
        if client.post(prepare, headers=csrf).status_code == 429:
            break
    contract.call("POST", prepare, 429, "ratelimited", headers=csrf)
    for _ in range(40):
        if client.post(activate, headers=csrf, json=body).status_code == 429:
            break
    contract.call("POST", activate, 429, "ratelimited", headers=csrf, json=body)
    contract.assert_every_documented_status_seen(prepare, "POST")
    contract.assert_every_documented_status_seen(activate, "POST")


def test_send_answers(app, contract, client, make_employee, httpserver, frozen_clock):
    from tests.integration.test_sms_gateway import Gateway, configure
    from tests.integration.test_sms_otp import sent_code

    path = "/api/mfa/send"
    gateway = Gateway(httpserver)
    configure(url=gateway.url(), otp_template="Back Office code {code} ({minutes} min)")
    gateway.answer()
    ann = make_employee(username="ann", mobile_phone="+447700900123")
    headers = bearer("ann")
    contract.call("POST", path, 403, "mfadisabled", headers=headers, json={"method": "sms"})
    settings.save({"mfa.status": True, "mfa.mode": "optional", "mfa.methods.sms": True, "mfa.failed_limit": 2})
    credential = mfa.prepare(ann, method="sms", binding="signup")
    mfa.activate(ann, credential.id, sent_code(gateway), binding="signup")
    frozen_clock.advance(timedelta(minutes=1))

    assert contract.call("POST", path, 200, headers=headers, json={"method": "sms"}).json["valid_minutes"] == 5
    contract.call("POST", "/api/mfa/verify", 200, headers=headers, json={"method": "sms", "code": sent_code(gateway)})
    contract.call("POST", path, 429, "codealreadysent", headers=headers, data={"method": "sms"})
    contract.call("POST", path, 400, "invalidrequest", headers=headers, json={})
    contract.call("POST", path, 400, "methodnotavailable", headers=headers, json={"method": "email"})
    contract.call("POST", path, 401, "notsignedin", json={"method": "sms"})
    contract.call("POST", path, 401, "invalidtoken", headers={"Authorization": "Bearer x"}, json={"method": "sms"})
    contract.call("POST", path, 413, "toolarge", headers=headers, json={"method": HUGE})
    frozen_clock.advance(timedelta(seconds=31))
    httpserver.clear_all_handlers()
    gateway.answer(body="error", status=500)
    contract.call("POST", path, 502, "codenotsent", headers=headers, json={"method": "sms"})
    for code in ("000000", "000001"):
        client.post("/api/mfa/verify", headers=headers, json={"code": code})
    contract.call("POST", path, 403, "accountlocked", headers=headers, json={"method": "sms"})

    make_employee(username="bob")
    log_in(client, "bob")
    post_form(client, "/login/skip", {}, form_url="/login/verify")
    contract.call("POST", path, 400, "csrffailed", json={"method": "sms"})
    post_form(client, "/logout", {}, form_url="/")
    log_in(client, "ann")  # half-way: the code screen
    contract.call("POST", path, 401, "mfapending", json={"method": "sms"})
    bearer_client = app.test_client()  # no browser session: the token alone
    for _ in range(40):
        if bearer_client.post(path, headers=headers, json={"method": "email"}).status_code == 429:
            break
    contract.client = bearer_client
    contract.call("POST", path, 429, "ratelimited", headers=headers, json={"method": "sms"})
    contract.assert_every_documented_status_seen(path, "POST")


def test_verify_and_enforcement_answers(contract, client, make_employee, admin, frozen_clock):
    make_employee(username="ann")
    verify, enforcement = "/api/mfa/verify", "/api/mfa/enforcement"
    as_admin, as_ann = bearer("admin"), bearer("ann")
    contract.call("POST", verify, 403, "mfadisabled", headers=as_ann, json={"code": "123456"})
    settings.save({"mfa.status": True, "mfa.mode": "optional", "mfa.failed_limit": 2})
    enrolment = client.post("/api/mfa/prepare", headers=as_ann).json
    codes = client.post("/api/mfa/activate", headers=as_ann, json={
        "enrolment_id": enrolment["enrolment_id"], "code": totp_code(enrolment["secret"])}).json["recovery_codes"]
    contract.call("POST", verify, 200, headers=as_ann, data={"code": codes[0]})
    contract.call("POST", verify, 400, "invalidrequest", headers=as_ann, json={"code": "1", "method": "fax"})
    contract.call("POST", verify, 401, "notsignedin", json={"code": "1"})
    contract.call("POST", verify, 401, "invalidotp", headers=as_ann, json={"code": codes[0]})
    contract.call("POST", verify, 403, "accountlocked", headers=as_ann, json={"code": codes[0]})
    contract.call("POST", verify, 413, "toolarge", headers=as_ann, json={"code": HUGE})
    for _ in range(40):
        if client.post(verify, headers=as_ann, json={"code": "1"}).status_code == 429:
            break
    contract.call("POST", verify, 429, "ratelimited", headers=as_ann, json={"code": "1"})

    contract.call("GET", enforcement + "?username=ann", 200, headers=as_admin)
    contract.call("GET", enforcement, 400, "invalidrequest", headers=as_admin)
    contract.call("GET", enforcement + "?username=nobody", 404, "notfound", headers=as_admin)
    contract.call("GET", enforcement + "?username=ann", 403, "forbidden", headers=as_ann)
    token = issue_token("admin", DEFAULT_PASSWORD, "mobile_app", None, "127.0.0.1")
    revoke_token(token.record.employee, token.record.id, token.record.employee, "test")
    contract.call("GET", enforcement + "?username=ann", 401, "invalidtoken",
                  headers={"Authorization": f"Bearer {token.token}"})
    contract.assert_every_documented_status_seen(verify, "POST")
    contract.assert_every_documented_status_seen(enforcement, "GET")


POSTS = [p for p, item in DOC["paths"].items() if "post" in item]


MISTYPED = {  # one field of the wrong type for each operation that takes a body
    "/api/token": {"username": 7, "password": "x", "service": "mobile_app"},
    "/api/token/code": {"method": ["email"], "username": "ann", "password": "x", "service": "mobile_app"},
    "/api/mfa/prepare": {"enrolment_code": ["ABCDE-FGHJK"]},
    "/api/mfa/activate": {"enrolment_id": True, "code": "123456"},
    "/api/mfa/verify": {"code": {"totp": "123456"}},
    "/api/mfa/send": {"method": 3},
}


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize("body", ["{not json", "[1, 2]", "null", '"text"', "mistyped"])
def test_bad_json_and_wrong_types_are_a_documented_400(contract, make_employee, path, body):
    make_employee(username="ann")
    settings.save({"mfa.status": True})
    headers = {**bearer("ann"), "Content-Type": "application/json"}
    data = json.dumps(MISTYPED[path]) if body == "mistyped" else body
    response = contract.call("POST", path, 400, "invalidrequest", data=data, headers=headers)
    if body == "mistyped":
        assert response.json["field"] == next(iter(MISTYPED[path]))


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize("as_form", [False, True])
def test_a_body_over_64_kb_is_refused_with_413_json(contract, make_employee, path, as_form):
    make_employee(username="ann")
    body = {"code": HUGE, "username": "ann", "password": HUGE, "service": "mobile_app"}
    kwargs = {"data": body} if as_form else {"json": body}
    contract.call("POST", path, 413, "toolarge", headers=bearer("ann"), **kwargs)


# --- schemathesis against the running app -----------------------------------------------------

@pytest.fixture
def fuzz_headers(db, make_employee):
    """An administrator's token with MFA On, so every operation gets past its guard; "ann" is the
    document's example employee. The lock is left at its upper bound so that wrong codes do not
    end the run early (the lock and the rate limits have their own tests above)."""
    settings.save({"mfa.status": True, "mfa.mode": "optional", "mfa.failed_limit": 100})
    make_employee(username="fuzzadmin", status_level=9)
    make_employee(username="ann")
    return bearer("fuzzadmin")


# The document the app serves (byte for byte, see the first test). Loaded at import, because
# schemathesis' lazy `from_fixture` loader does not run under pytest 9.2; the calls still go to
# the running app, through the suite's test client.
fuzzed = schemathesis.openapi.from_path(DOCUMENT)


@fuzzed.parametrize()
@hypothesis_settings(max_examples=25, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(HealthCheck))
def test_generated_calls_are_answered_as_documented(case, client, fuzz_headers):
    """Positive and negative cases (wrong types, missing fields, bad values) for each operation:
    no server error, only documented statuses and content types, bodies matching their schemas."""
    limiter.reset()  # each generated call from a fresh address's point of view
    case.call_and_validate(session=client, app=client.application, headers=fuzz_headers, checks=CHECKS)
