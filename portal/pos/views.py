"""/pos: one URL for every terminal, and the JSON calls its script makes."""
import re

from flask import jsonify, render_template, request, session

from portal.extensions import limiter
from portal.mfa import methods as mfa_methods
from portal.models.terminal import LOG_LEVELS
from portal.pos import bp
from portal.pos.calls import (
    POS_SIGNIN_KEY,
    client_time,
    device_terminal,
    employee_view,
    json_body,
    refusal_response,
    remember_sign_in,
    signed_in_employee,
    terminal_view,
)
from portal.security.client import client_address
from portal.security.device_tokens import TERMINAL_HEADER
from portal.security.rate_limits import password_failures
from portal.services import pos_devices
from portal.services.pos_devices import PosRefusal

CACHE_SESSION_ID_PATTERN = r"^[A-Za-z0-9-]{8,64}$"


@bp.errorhandler(PosRefusal)
def refused(refusal: PosRefusal):
    return refusal_response(refusal)


@bp.get("")
@limiter.limit("60 per minute")
def page():
    """The Web POS page. `?terminal=` is the legacy way, honoured only with device security off."""
    asked = request.args.get("terminal", "").strip()
    legacy = pos_devices.legacy_terminal(asked) if asked else None
    return render_template("pos/device.html", legacy_terminal=legacy,
                           ignored_terminal=bool(asked) and legacy is None and pos_devices.device_security_on(),
                           unknown_terminal=bool(asked) and legacy is None and not pos_devices.device_security_on())


@bp.post("/api/status")
@limiter.limit("60 per minute")
def status():
    """Is this device linked to the terminal in its local storage (and who is signed in there)?"""
    json_body()
    try:
        terminal = device_terminal()
    except PosRefusal:
        return jsonify(linked=False)
    employee = signed_in_employee(terminal)
    return jsonify(linked=True, terminal=terminal_view(terminal),
                   employee=employee_view(employee) if employee else None)


@bp.post("/api/link")
@limiter.limit("10 per minute")
@password_failures
def link():
    data = json_body("username", "password", "terminal_key", optional=("otp", "method", "challenge"),
                     max_length=128)
    result = pos_devices.link_device(data["username"], data["password"], data["terminal_key"], data.get("otp"),
                                     client_address(), method=_sent_code_method(data),
                                     challenge=data.get("challenge"))
    session.pop(POS_SIGNIN_KEY, None)
    return jsonify(terminal=terminal_view(result.terminal), device_token=result.device_token)


def _sent_code_method(data: dict[str, str]) -> str | None:
    """`method` with its `challenge`: the code was sent by /api/link/code. Other codes come without."""
    if "method" not in data:
        return None
    if data["method"] not in mfa_methods.METHODS or "challenge" not in data:
        raise PosRefusal("invalidrequest", "Send the code again.", 400, "otp")
    return data["method"]


@bp.post("/api/link/code")
@limiter.limit("10 per minute")
@password_failures
def link_code():
    """The link popup's "Send code by email" (or SMS)."""
    data = json_body("username", "password", "terminal_key", "method", max_length=128)
    sent = pos_devices.send_link_code(data["username"], data["password"], data["terminal_key"], data["method"],
                                      client_address())
    return jsonify(method=sent.method, sent_to=sent.sent_to, valid_minutes=sent.valid_minutes,
                   challenge=sent.challenge)


@bp.post("/api/login")
@limiter.limit("30 per minute")
@password_failures
def login():
    data = json_body("username", "password", max_length=128)
    terminal = device_terminal()
    employee = pos_devices.sign_in_at_terminal(terminal, data["username"], data["password"])
    remember_sign_in(terminal, employee)
    return jsonify(terminal=terminal_view(terminal), employee=employee_view(employee))


@bp.post("/api/logout")
def logout():
    json_body()
    session.pop(POS_SIGNIN_KEY, None)
    return jsonify(signed_out=True)


def _terminal_named() -> str:
    return "terminal:" + request.headers.get(TERMINAL_HEADER, "").strip().lower()[:64]


@bp.post("/api/log")
@limiter.limit("120 per minute")
@limiter.limit("240 per minute", key_func=_terminal_named)  # per terminal too, whatever the address
def log():
    """One client log record from the terminal's device, with its cache session ID."""
    data = json_body("level", "message", "cache_session_id", optional=("logged_at",))
    if data["level"] not in LOG_LEVELS:
        raise PosRefusal("invalidrequest", f"The field level must be one of {', '.join(LOG_LEVELS)}.", 400, "level")
    if not re.fullmatch(CACHE_SESSION_ID_PATTERN, data["cache_session_id"]):
        raise PosRefusal("invalidrequest", "The field cache_session_id must be 8 to 64 letters, digits or -.", 400,
                         "cache_session_id")
    logged_at = client_time(data.get("logged_at"))
    terminal = device_terminal()
    pos_devices.record_client_log(terminal, data["level"], data["message"], data["cache_session_id"], logged_at,
                                  client_address())
    return jsonify(stored=True), 201
