"""Sys Config › SMS Gateway and the gateway client, against a real HTTP server on localhost
(pytest-httpserver) playing the provider's gateway."""
import json
import threading

import pytest
from cryptography.fernet import Fernet
from werkzeug import Request, Response

from portal.models import AuditEvent, SmsGateway
from portal.security import secret_box
from portal.sms import config as sms_config
from portal.sms.gateway import TEST_MESSAGE, render_otp_message, send_sms
from tests.conftest import log_in, post_form
from tests.integration.test_page_markup import assert_well_formed

NUMBER = "+447700900123"
PAGE = "/sysconfig/sms-gateway"
# Quotes, a backslash, a newline, braces, form separators and non-ASCII: every escaping matters.
TRICKY = 'Grüße "Ann" \\ 50% off & more=yes\n{code} – 東京 😀'
SAVED = {
    "active": "y", "url": "https://sms.example.com/v1/send", "method": "POST", "sender_id": "BackOffice",
    "content_type": "form", "request_template": "to={to}&text={message}&from={sender}", "success_status": "200",
    "success_text": "", "failed_text": "", "username": "", "password": "", "headers": "", "verify_tls": "y",
    "proxy_url": "", "phone_pattern": "", "otp_template": "Code {code}, valid {minutes} min, {name}.",
}


class Gateway:
    """The pytest-httpserver gateway: records what it received, answers as told."""

    def __init__(self, server):
        self.server = server
        self.received: list[dict] = []

    def answer(self, body="OK", status=200, content_type="text/plain", path="/send"):
        def handler(request: Request) -> Response:
            self.received.append({
                "method": request.method, "args": request.args.to_dict(flat=False),
                "form": request.form.to_dict(flat=False), "content_type": request.content_type,
                "data": request.get_data(), "headers": dict(request.headers),
                "auth": (request.authorization.username, request.authorization.password)
                if request.authorization and request.authorization.type == "basic" else None,
            })
            return Response(body, status=status, content_type=content_type)

        self.server.expect_request(path).respond_with_handler(handler)

    def url(self, path="/send") -> str:
        return self.server.url_for(path)


@pytest.fixture
def gateway(httpserver):
    yield Gateway(httpserver)
    httpserver.check_assertions()


def configure(**fields) -> SmsGateway:
    """Save the gateway settings through the service, as the page does."""
    values = {"active": True, "method": "POST", "content_type": "form", "sender_id": "BackOffice",
              "request_template": "to={to}&text={message}&from={sender}", **fields}
    password, headers = values.pop("password", None), values.pop("headers", None)
    sms_config.save_gateway(values, password=password, headers=headers)
    return sms_config.get_gateway()


def audit_rows(db, event):
    db.session.rollback()
    return list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.event == event)))


# -- the client against a real gateway --------------------------------------------------

def test_post_form_body_is_url_encoded(gateway):
    gateway.answer()
    configure(url=gateway.url())
    result = send_sms(NUMBER, TRICKY)
    assert result.ok and result.status == 200 and result.body_excerpt == "OK" and result.error is None
    (got,) = gateway.received
    assert got["method"] == "POST" and got["content_type"] == "application/x-www-form-urlencoded"
    assert got["form"] == {"to": [NUMBER], "text": [TRICKY], "from": ["BackOffice"]}
    assert got["args"] == {}


def test_get_puts_the_fields_in_the_query_string(gateway):
    gateway.answer()
    configure(url=gateway.url(), method="GET", request_template="api=v2\nto={to}\ntext={message}")
    assert send_sms(NUMBER, TRICKY).ok
    (got,) = gateway.received
    assert got["method"] == "GET" and got["data"] == b""
    assert got["args"] == {"api": ["v2"], "to": [NUMBER], "text": [TRICKY]}


def test_post_json_escapes_values_inside_nested_objects(gateway):
    gateway.answer(body='{"status": "queued"}', content_type="application/json")
    template = json.dumps({"from": {"name": "{sender}"}, "messages": [{"to": "{to}", "body": "Code: {message}"}],
                           "priority": 1, "flash": False, "literal": "{ not a placeholder }"})
    configure(url=gateway.url(), content_type="json", request_template=template)
    result = send_sms(NUMBER, TRICKY)
    assert result.ok and result.body_excerpt == '{"status": "queued"}'
    (got,) = gateway.received
    assert got["content_type"] == "application/json"
    assert json.loads(got["data"]) == {"from": {"name": "BackOffice"}, "messages": [{"to": NUMBER,
                                       "body": f"Code: {TRICKY}"}], "priority": 1, "flash": False,
                                       "literal": "{ not a placeholder }"}


def test_basic_auth_and_extra_headers_reach_the_gateway(gateway):
    gateway.answer()
    configure(url=gateway.url(), username="acct-42", password="s3cret:pa ss",
              headers="X-Api-Key: key-123\nX-Tenant: shop 7")
    assert send_sms(NUMBER, "hello").ok
    (got,) = gateway.received
    assert got["auth"] == ("acct-42", "s3cret:pa ss")
    assert got["headers"]["X-Api-Key"] == "key-123" and got["headers"]["X-Tenant"] == "shop 7"


def test_bearer_token_header_without_basic_auth(gateway):
    gateway.answer()
    configure(url=gateway.url(), headers="Authorization: Bearer tok.en-9")
    assert send_sms(NUMBER, "hello").ok
    (got,) = gateway.received
    assert got["headers"]["Authorization"] == "Bearer tok.en-9" and got["auth"] is None


@pytest.mark.parametrize("criteria, body, ok, error", [
    ({"success_text": '"accepted"'}, '{"state": "accepted"}', True, None),
    ({"success_text": '"accepted"'}, '{"state": "queued"}', False, "does not contain the success text"),
    ({"failed_text": "ERROR"}, "ERROR: no credit", False, "contains the failed text"),
    ({"success_text": "OK", "failed_text": "ERROR"}, "OK ERROR", False, "contains the failed text"),
    ({"success_status": 202}, "OK", False, "answered HTTP 200, not the expected 202"),
])
def test_success_and_failed_criteria(gateway, criteria, body, ok, error):
    gateway.answer(body=body)
    configure(url=gateway.url(), **criteria)
    result = send_sms(NUMBER, "hello")
    assert result.ok is ok and result.status == 200 and result.body_excerpt == body
    assert (result.error is None) if ok else (error in result.error)


def test_a_500_is_a_failure_and_is_audited_without_the_message(gateway, db):
    gateway.answer(body="Internal error while sending 'Your code is 987654'", status=500)
    configure(url=gateway.url())
    result = send_sms(NUMBER, "Your code is 987654")
    assert not result.ok and result.status == 500 and "HTTP 500" in result.error
    (event,) = audit_rows(db, "sms.failed")
    assert event.details["status"] == 500 and event.details["ok"] is False
    assert event.details["body"] == "Internal error while sending '[message]'"
    assert event.details["to"] == "+44*******123"
    assert "987654" not in json.dumps(event.details)


def test_a_gateway_that_never_answers_times_out_as_a_failure(app, db, make_httpserver):
    """The handler waits far longer than the (shortened) timeout; it is released afterwards."""
    release = threading.Event()

    def silent(request):
        release.wait(10)
        return Response("too late")

    make_httpserver.expect_request("/slow").respond_with_handler(silent)
    configure(url=make_httpserver.url_for("/slow"))
    saved = app.config["SMS_GATEWAY_TIMEOUT"]
    app.config["SMS_GATEWAY_TIMEOUT"] = 0.3
    try:
        result = send_sms(NUMBER, "hello")
    finally:
        app.config["SMS_GATEWAY_TIMEOUT"] = saved
        release.set()
    assert not result.ok and result.status is None
    assert result.error == "The gateway did not answer within 0.3 seconds."
    assert audit_rows(db, "sms.failed")[0].details["error"] == result.error


def test_a_closed_port_is_a_failure(db):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    configure(url=f"http://127.0.0.1:{port}/send")
    result = send_sms(NUMBER, "hello")
    assert not result.ok and result.error == "Could not connect to the gateway."


def test_the_proxy_carries_the_request(gateway):
    """With a proxy set, the request goes to the proxy, naming the gateway's host."""
    gateway.answer()
    configure(url="http://sms-gateway.invalid/send", proxy_url=gateway.url("/"))
    assert send_sms(NUMBER, "hello").ok
    assert gateway.received[0]["headers"]["Host"] == "sms-gateway.invalid"


@pytest.mark.parametrize("number, pattern, problem", [
    ("07700900123", "", "not in international format"),
    ("+44 7700 900123", "", "not in international format"),
    ("+0447700900123", "", "not in international format"),
    ("+4477009001234567", "", "not in international format"),
    ("+15555550123", r"\+44\d{10}", "does not match the phone-number pattern"),
])
def test_numbers_the_gateway_would_not_take_are_refused_before_sending(gateway, db, number, pattern, problem):
    configure(url=gateway.url(), phone_pattern=pattern)
    result = send_sms(number, "hello")
    assert not result.ok and problem in result.error and result.status is None
    assert gateway.server.log == []
    assert audit_rows(db, "sms.failed")[0].details["error"] == result.error


def test_an_inactive_gateway_sends_nothing_but_a_test_still_goes(gateway, db, admin):
    gateway.answer()
    configure(url=gateway.url(), active=False)
    result = send_sms(NUMBER, "hello")
    assert not result.ok and result.error == "The SMS gateway is not active."
    assert gateway.received == []
    from portal.sms.gateway import send_test_sms

    assert send_test_sms(NUMBER, actor=admin).ok
    (got,) = gateway.received
    assert got["form"]["text"] == [TEST_MESSAGE]
    (event,) = audit_rows(db, "sms.test_sent")
    assert event.actor_id == admin.id and event.details["ok"] is True and event.details["status"] == 200


def test_no_configuration_at_all_is_a_refusal_not_an_error(db):
    assert send_sms(NUMBER, "hello").error == "The SMS gateway is not active."


def test_render_otp_message_uses_the_saved_template(db):
    assert render_otp_message("123456", 5, "Ann") == "Your Back Office code is 123456. It expires in 5 minutes."
    configure(otp_template="{name}: {code} ({minutes} min)")
    assert render_otp_message("654321", 3, "Ann {code}") == "Ann {code}: 654321 (3 min)"


# -- the settings page ----------------------------------------------------------------

@pytest.fixture
def manager_client(client, make_employee):
    make_employee(username="manager", status_level=5)
    assert log_in(client, "manager").status_code == 302
    return client


@pytest.mark.parametrize("level, status", [(1, 403), (4, 403), (5, 200), (9, 200)])
def test_only_managers_and_administrators_open_the_page(client, make_employee, level, status):
    make_employee(username="someone", status_level=level)
    log_in(client, "someone")
    assert client.get(PAGE).status_code == status
    assert (b"Sys Config \xe2\x80\xba SMS Gateway" in client.get("/").data) is (status == 200)


def test_staff_cannot_send_a_test_sms(client, make_employee, gateway):
    make_employee(username="cashier", status_level=4)
    log_in(client, "cashier")
    assert post_form(client, PAGE + "/test", {"number": NUMBER}, form_url="/").status_code == 403
    assert gateway.server.log == []


def test_the_page_is_well_formed(manager_client):
    assert_well_formed(manager_client.get(PAGE).get_data(as_text=True), PAGE)
    configure(url="https://x.example/send", password="p", headers="X-Key: v")
    assert_well_formed(manager_client.get(PAGE).get_data(as_text=True), PAGE)


def test_saving_stores_secrets_encrypted_and_never_shows_them(manager_client, db):
    data = {**SAVED, "username": "acct", "password": "Pa55-word-xyz",
            "headers": "Authorization: Bearer tok-VALUE-1\nX-Api-Key: key-VALUE-2"}
    response = post_form(manager_client, PAGE, data, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "SMS Gateway settings saved." in html
    for secret in ("Pa55-word-xyz", "tok-VALUE-1", "key-VALUE-2"):
        assert secret not in html
    assert "A password is stored." in html and "Stored headers: Authorization, X-Api-Key (values hidden)" in html

    db.session.rollback()
    row = db.session.get(SmsGateway, 1)
    assert row.active and row.url == SAVED["url"] and row.username == "acct"
    stored = db.session.execute(db.text("SELECT password_encrypted, headers_encrypted FROM sms_gateway")).one()
    assert "Pa55-word-xyz" not in stored[0] and "tok-VALUE-1" not in stored[1]
    assert secret_box.decrypt(stored[0]) == "Pa55-word-xyz"
    assert secret_box.decrypt(stored[1]) == "Authorization: Bearer tok-VALUE-1\nX-Api-Key: key-VALUE-2"

    (event,) = audit_rows(db, "sms.gateway_changed")
    assert event.details["password"] == "changed" and event.details["headers"] == "changed"
    assert event.details["url"] == {"old": "", "new": SAVED["url"]}
    assert event.details["active"] == {"old": False, "new": True}
    assert "Pa55-word-xyz" not in json.dumps(event.details) and "VALUE" not in json.dumps(event.details)


def test_blank_secrets_keep_the_stored_ones_and_clear_removes_them(manager_client, db):
    post_form(manager_client, PAGE, {**SAVED, "password": "first-pass", "headers": "X-Key: one"})
    response = post_form(manager_client, PAGE, {**SAVED, "sender_id": "Shop"}, follow_redirects=True)
    assert "SMS Gateway settings saved." in response.get_data(as_text=True)
    db.session.rollback()
    row = db.session.get(SmsGateway, 1)
    assert row.sender_id == "Shop"
    assert sms_config.stored_password(row) == "first-pass" and sms_config.stored_headers(row) == [("X-Key", "one")]
    assert audit_rows(db, "sms.gateway_changed")[-1].details == {"sender_id": {"old": "BackOffice", "new": "Shop"}}

    response = post_form(manager_client, PAGE, {**SAVED, "sender_id": "Shop"}, follow_redirects=True)
    assert "Nothing to save" in response.get_data(as_text=True)

    post_form(manager_client, PAGE, {**SAVED, "sender_id": "Shop", "clear_password": "y", "clear_headers": "y"})
    db.session.rollback()
    row = db.session.get(SmsGateway, 1)
    assert row.password_encrypted is None and row.headers_encrypted is None
    html = manager_client.get(PAGE).get_data(as_text=True)
    assert "No password is stored." in html and "No extra headers are stored." in html


@pytest.mark.parametrize("field, value, message", [
    ("url", "ftp://sms.example.com/send", "with its scheme"),
    ("url", "sms.example.com/send", "with its scheme"),
    ("url", "https://user:pw@sms.example.com/send", "Leave credentials out of the URL"),
    ("url", "https://sms.example.com:99999/send", "port"),
    ("url", "", "An Active gateway needs its URL."),
    ("proxy_url", "proxy.example.com:3128", "with its scheme"),
    ("request_template", "to={to}&text={foo}", "Unknown placeholder {foo}"),
    ("request_template", "", "Enter the request data"),
    ("request_template", "just text", "name=value pairs"),
    ("phone_pattern", r"\+44(\d{10}", "not a valid regular expression"),
    ("otp_template", "Your code is {code} {foo}", "Unknown placeholder {foo}"),
    ("otp_template", "No code here", "must contain {code}"),
    ("headers", "X-Key value-without-colon", "Line 1: write one header per line"),
    ("headers", "Host: evil.example", "set by the portal itself"),
    ("success_status", "700", "Number must be between 100 and 599"),
])
def test_bad_input_is_a_field_error_and_nothing_is_saved(manager_client, db, field, value, message):
    response = post_form(manager_client, PAGE, {**SAVED, field: value})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    errors = html.split(f'id="{field}-errors"', 1)
    assert len(errors) == 2 and message in errors[1].split("</div></div>")[0], f"no error {message!r} by {field}"
    db.session.rollback()
    assert db.session.get(SmsGateway, 1) is None
    assert audit_rows(db, "sms.gateway_changed") == []


@pytest.mark.parametrize("data, field, message", [
    ({"content_type": "json", "request_template": '{"to": "{to}", "text": "{message}",}'}, "request_template",
     "not valid JSON"),
    ({"content_type": "json", "request_template": '{"to": "{to}", "text": {"x": "{foo}"}}'}, "request_template",
     "Unknown placeholder {foo}"),
    ({"content_type": "json", "request_template": '{"{to}": "{message}"}'}, "request_template",
     "not in names"),
    ({"content_type": "json", "method": "GET", "request_template": '{"to": "{to}"}'}, "content_type",
     "GET sends its data in the query string"),
])
def test_bad_json_templates_are_field_errors(manager_client, db, data, field, message):
    html = post_form(manager_client, PAGE, {**SAVED, **data}).get_data(as_text=True)
    assert f'id="{field}-errors"' in html and message in html
    db.session.rollback()
    assert db.session.get(SmsGateway, 1) is None


def test_an_inactive_gateway_may_be_saved_half_configured(manager_client, db):
    data = {**SAVED, "url": "", "request_template": ""}
    del data["active"]
    response = post_form(manager_client, PAGE, data, follow_redirects=True)
    assert "SMS Gateway settings saved." in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(SmsGateway, 1).active is False


def test_send_test_sms_shows_status_and_the_escaped_truncated_body(manager_client, gateway, db):
    gateway.answer(body="<b>queued</b> " + "x" * 800, status=201)
    configure(url=gateway.url(), success_status=201)
    response = post_form(manager_client, PAGE + "/test", {"number": NUMBER}, form_url=PAGE)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Test SMS: sent" in html and "<dd class=\"col-sm-9\">201</dd>" in html
    assert "&lt;b&gt;queued&lt;/b&gt;" in html and "<b>queued" not in html
    assert "x" * 486 + "…" in html and "x" * 487 not in html
    assert gateway.received[0]["form"]["to"] == [NUMBER]
    (event,) = audit_rows(db, "sms.test_sent")
    assert event.details["status"] == 201 and len(event.details["body"]) == 200


def test_a_failed_test_sms_shows_the_technical_result(manager_client, gateway):
    gateway.answer(body='{"error": "invalid sender"}', status=400)
    configure(url=gateway.url())
    html = post_form(manager_client, PAGE + "/test", {"number": NUMBER}, form_url=PAGE).get_data(as_text=True)
    assert "Test SMS: failed" in html and "The gateway answered HTTP 400, not the expected 200." in html
    assert "{&#34;error&#34;: &#34;invalid sender&#34;}" in html or "&quot;invalid sender&quot;" in html


def test_a_test_number_not_in_international_format_is_a_field_error(manager_client, gateway):
    configure(url=gateway.url())
    html = post_form(manager_client, PAGE + "/test", {"number": "07700 900123"}, form_url=PAGE).get_data(as_text=True)
    assert 'id="number-errors"' in html and "international format" in html
    assert "Test SMS:" not in html and gateway.server.log == []


def test_rotate_mfa_keys_re_encrypts_the_gateway_secrets(app, db):
    configure(url="https://sms.example.com/send", password="gw-pass", headers="X-Key: gw-key")
    old_key = app.config["MFA_ENCRYPTION_KEYS"]
    new_key = Fernet.generate_key().decode()
    app.config["MFA_ENCRYPTION_KEYS"] = f"{new_key},{old_key}"
    app.extensions.pop("secret_box", None)
    try:
        db.session.commit()
        result = app.test_cli_runner().invoke(args=["rotate-mfa-keys"])
        assert result.exit_code == 0, result.output
        assert "Re-encrypted 2 secret(s)" in result.output
        db.session.rollback()
        password, headers = db.session.execute(
            db.text("SELECT password_encrypted, headers_encrypted FROM sms_gateway")).one()
        assert Fernet(new_key).decrypt(password.encode()) == b"gw-pass"
        assert Fernet(new_key).decrypt(headers.encode()) == b"X-Key: gw-key"
    finally:
        app.config["MFA_ENCRYPTION_KEYS"] = old_key
        app.extensions.pop("secret_box", None)


@pytest.fixture
def tls_gateway(tmp_path):
    """A gateway on HTTPS with a self-signed certificate for 127.0.0.1."""
    import datetime
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from pytest_httpserver import HTTPServer

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = HTTPServer(host="127.0.0.1", ssl_context=context)
    server.start()
    server.expect_request("/send").respond_with_data("OK")
    yield server
    server.clear()
    server.stop()


def test_a_certificate_that_does_not_verify_is_refused(tls_gateway):
    configure(url=tls_gateway.url_for("/send"))
    result = send_sms(NUMBER, "hello")
    assert not result.ok and result.error == "The gateway's TLS certificate could not be verified."


# urllib3 warns on every unverified HTTPS request; that is the point of the setting's warning on the page.
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_tls_off_accepts_the_self_signed_gateway(tls_gateway):
    configure(url=tls_gateway.url_for("/send"), verify_tls=False)
    assert send_sms(NUMBER, "hello").ok
