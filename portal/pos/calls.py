"""Reading the POS calls' small JSON bodies and device headers; refusals as JSON errors."""
from datetime import UTC, datetime

from flask import abort, jsonify, request, session

from portal.extensions import db
from portal.json_body import json_object
from portal.models import Employee, PosTerminal
from portal.security.device_tokens import DEVICE_TOKEN_HEADER, TERMINAL_HEADER
from portal.services.pos_devices import PosRefusal, legacy_terminal, linked_terminal
from portal.services.terminals import may_use

MAX_BODY_BYTES = 4 * 1024  # "a few KB": a POS call is a handful of short fields
POS_SIGNIN_KEY = "pos"


def refusal_response(refusal: PosRefusal):
    body = {"error": refusal.message, "errorcode": refusal.errorcode, **refusal.extra}
    if refusal.field:
        body["field"] = refusal.field
    return jsonify(body), refusal.status


def json_body(*required: str, optional: tuple[str, ...] = (), max_length: int = 1000) -> dict[str, str]:
    """The call's JSON object with these string fields, or a 400/413 JSON refusal."""
    if (request.content_length or 0) > MAX_BODY_BYTES or len(request.get_data(cache=True)) > MAX_BODY_BYTES:
        abort(413)  # the app-wide MAX_CONTENT_LENGTH bounds what get_data reads without a length
    data = json_object()
    if data is None:
        raise PosRefusal("invalidrequest", "Send a JSON object.", 400)
    values = {}
    for name in (*required, *optional):
        value = data.get(name)
        if value is None or (value == "" and name in optional):
            if name in required:
                raise PosRefusal("invalidrequest", f"The field {name} is required.", 400, name)
            continue
        if not isinstance(value, str) or len(value) > max_length:
            raise PosRefusal("invalidrequest", f"The field {name} must be text of at most {max_length} "
                             "characters.", 400, name)
        if name in required and not value.strip():
            raise PosRefusal("invalidrequest", f"The field {name} is required.", 400, name)
        values[name] = value
    return values


def device_terminal() -> PosTerminal:
    """The terminal this device acts as: linked by its device token, or, with device security
    off, named in the terminal header alone (the legacy URL way). Else a 403 refusal."""
    key = request.headers.get(TERMINAL_HEADER)
    token = request.headers.get(DEVICE_TOKEN_HEADER)
    terminal = linked_terminal(key, token) if token else legacy_terminal(key)
    if terminal is None:
        raise PosRefusal("devicenotlinked", "This device is not linked to this terminal.", 403)
    return terminal


def terminal_view(terminal: PosTerminal) -> dict:
    return {"key": terminal.key_identifier, "name": terminal.name, "store": terminal.store}


def employee_view(employee: Employee) -> dict:
    return {"username": employee.username, "full_name": employee.full_name}


def link_mark(terminal: PosTerminal) -> str:
    """Which link a POS sign-in belongs to: a relinked or unlinked terminal ends it."""
    return (terminal.device_token_hash or "legacy")[:16]


def remember_sign_in(terminal: PosTerminal, employee: Employee) -> None:
    session[POS_SIGNIN_KEY] = {"terminal": terminal.id, "employee": employee.id, "token": employee.session_token,
                               "link": link_mark(terminal)}


def signed_in_employee(terminal: PosTerminal) -> Employee | None:
    """The employee signed in at this terminal in this browser, while it holds: the same link,
    the employee still active and allowed on the terminal, and their session token unchanged
    (a password change or Reset MFA ends it, as it ends their back-office sessions)."""
    state = session.get(POS_SIGNIN_KEY)
    if not state or state.get("terminal") != terminal.id:
        return None
    employee = db.session.get(Employee, state.get("employee"))
    if (employee is None or employee.session_token != state.get("token") or state.get("link") != link_mark(terminal)
            or not may_use(terminal, employee)):
        session.pop(POS_SIGNIN_KEY, None)
        return None
    return employee


def client_time(text: str | None) -> datetime | None:
    """The device's own timestamp (ISO 8601), stored as naive UTC; None when absent."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PosRefusal("invalidrequest", "The field logged_at must be an ISO 8601 time.", 400,
                         "logged_at") from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
