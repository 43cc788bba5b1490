"""The SMS gateway client: `send_sms(to, message)` over HTTP with `requests`.

What is never written anywhere (log, audit, result): the password, the extra headers and
the message text, which carries a one-time code. The audit keeps the outcome, the HTTP
status and a short excerpt of the gateway's answer, with the message cut out of it in case
the gateway echoes it back, and the number with its middle digits masked.
"""
import json
import logging
import re
from dataclasses import dataclass
from urllib.parse import quote_plus

import requests
from flask import current_app

from portal.extensions import db
from portal.models.sms_gateway import JSON
from portal.security import secret_box
from portal.security.audit import record_event
from portal.sms.config import get_gateway, stored_headers, stored_password
from portal.sms.templates import render_form, render_json, render_otp

log = logging.getLogger(__name__)

# E.164: "+", a country code that does not start with 0, at most 15 digits in all.
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
EXCERPT_CHARS = 500  # of the response body, shown on the test page
AUDIT_EXCERPT_CHARS = 200
MAX_BODY_BYTES = 64 * 1024  # read no more of an answer than this
TEST_MESSAGE = "Back Office test message: the SMS gateway settings work."
# What an employee reads when a code could not be sent; the details go to the audit log.
EMPLOYEE_FAILURE_MESSAGE = "We couldn't send the code by SMS. Try another method or contact your administrator."


@dataclass(frozen=True)
class SmsResult:
    ok: bool
    status: int | None = None  # the gateway's HTTP status; None when no answer came
    body_excerpt: str = ""
    error: str | None = None  # why it failed, in words for the administrator


def render_otp_message(code: str, minutes: int, name: str) -> str:
    """The OTP text from Sys Config › SMS Gateway's message template."""
    return render_otp(get_gateway().otp_template, code, minutes, name)


def number_problem(to: str, pattern: str) -> str | None:
    if not E164.fullmatch(to or ""):
        return "The number is not in international format (+ and country code, digits only)."
    if pattern and not re.fullmatch(pattern, to):
        return "The number does not match the phone-number pattern the gateway accepts."
    return None


def send_test_sms(to: str, actor) -> SmsResult:
    """Sys Config's "Send test SMS": the saved settings, Active or not; always audited."""
    return send_sms(to, TEST_MESSAGE, actor=actor, test=True)


def send_sms(to: str, message: str, *, actor=None, subject=None, test: bool = False,
             commit: bool = True) -> SmsResult:
    """Send one SMS; a failure is a result (audited as `sms.failed`), never an exception.

    `test` sends even when the gateway is not Active and audits the outcome either way
    (`sms.test_sent`). `commit=False` leaves the audit row in the caller's transaction.
    """
    gateway = get_gateway()
    if not gateway.active and not test:
        result = SmsResult(ok=False, error="The SMS gateway is not active.")
    elif not gateway.url:
        result = SmsResult(ok=False, error="No gateway URL is configured.")
    elif problem := number_problem(to, gateway.phone_pattern):
        result = SmsResult(ok=False, error=problem)
    else:
        result = _post(gateway, to, message)
    if test or not result.ok:
        record_event("sms.test_sent" if test else "sms.failed", actor=actor, subject=subject,
                     details=_audit_details(to, message, result))
        if commit:
            db.session.commit()
    if not result.ok:
        log.warning("SMS not sent: %s (HTTP status %s)", result.error, result.status)
    return result


def _post(gateway, to: str, message: str) -> SmsResult:
    timeout = float(current_app.config["SMS_GATEWAY_TIMEOUT"])
    try:
        options = _request_options(gateway, to, message)
    except secret_box.SecretBoxError:
        return SmsResult(ok=False, error="The stored password or headers cannot be decrypted with the configured keys.")
    try:
        with requests.Session() as session:
            # Only Sys Config decides: no proxy, certificate bundle or .netrc password from the environment.
            session.trust_env = False
            with session.request(gateway.method, gateway.url, timeout=(timeout, timeout), verify=gateway.verify_tls,
                                 allow_redirects=False, stream=True, **options) as response:
                status, body = response.status_code, _read_body(response)
    except requests.RequestException as error:
        return SmsResult(ok=False, error=_describe(error, timeout))
    excerpt = body[:EXCERPT_CHARS] + ("…" if len(body) > EXCERPT_CHARS else "")
    if status != gateway.success_status:
        problem = f"The gateway answered HTTP {status}, not the expected {gateway.success_status}."
    elif gateway.failed_text and gateway.failed_text in body:
        problem = f"The answer contains the failed text “{gateway.failed_text}”."
    elif gateway.success_text and gateway.success_text not in body:
        problem = f"The answer does not contain the success text “{gateway.success_text}”."
    else:
        problem = None
    return SmsResult(ok=problem is None, status=status, body_excerpt=excerpt, error=problem)


def _request_options(gateway, to: str, message: str) -> dict:
    values = {"to": to, "message": message, "sender": gateway.sender_id}
    options: dict = {"headers": dict(stored_headers(gateway))}
    if gateway.username:
        options["auth"] = (gateway.username, stored_password(gateway))
    if gateway.proxy_url:
        options["proxies"] = {"http": gateway.proxy_url, "https": gateway.proxy_url}
    if not gateway.request_template.strip():
        return options
    if gateway.content_type == JSON and gateway.method != "GET":
        options["json"] = render_json(gateway.request_template, values)
    elif gateway.method == "GET":
        options["params"] = render_form(gateway.request_template, values)
    else:
        options["data"] = render_form(gateway.request_template, values)
    return options


def _read_body(response: requests.Response) -> str:
    raw = b""
    for chunk in response.iter_content(8192):
        raw += chunk
        if len(raw) >= MAX_BODY_BYTES:
            break
    try:
        return raw[:MAX_BODY_BYTES].decode(response.encoding or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return raw[:MAX_BODY_BYTES].decode("utf-8", errors="replace")


def _describe(error: requests.RequestException, timeout: float) -> str:
    """The failure in words; never str(error), which can quote the URL with its query string."""
    if isinstance(error, requests.exceptions.ProxyError):
        return "Could not connect through the network proxy."
    if isinstance(error, requests.exceptions.SSLError):
        return "The gateway's TLS certificate could not be verified."
    if isinstance(error, requests.Timeout) or "timed out" in repr(error.args).lower():
        return f"The gateway did not answer within {timeout:g} seconds."
    if isinstance(error, requests.ConnectionError):
        return "Could not connect to the gateway."
    return f"The request could not be made ({type(error).__name__})."


def _audit_details(to: str, message: str, result: SmsResult) -> dict:
    excerpt = result.body_excerpt
    for form in (message, json.dumps(message)[1:-1], quote_plus(message)):
        if form:
            excerpt = excerpt.replace(form, "[message]")
    excerpt = excerpt[:AUDIT_EXCERPT_CHARS]
    return {"ok": result.ok, "status": result.status, "body": excerpt, "error": result.error, "to": _mask(to)}


def _mask(number: str) -> str:
    number = (number or "")[:20]
    return number if len(number) <= 6 else number[:3] + "*" * (len(number) - 6) + number[-3:]
