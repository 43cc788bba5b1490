"""POST /api/token: a token for an external service (the mobile app), honouring MFA; and
POST /api/token/code, which sends the code by email or SMS to an employee who uses those."""
from flask import current_app, jsonify

from portal.api import bp
from portal.api.http import form_values
from portal.extensions import limiter
from portal.mfa.methods import METHODS
from portal.security.client import client_address
from portal.security.rate_limits import password_failures
from portal.services import api_tokens
from portal.services.api_tokens import ApiRefusal

SENDING_METHODS = tuple(name for name, method in METHODS.items() if method.sends_code)


def _method(data: dict[str, str]) -> str | None:
    """The `method` field, when sent: a known method name, and a sent code's with its `challenge`."""
    name = data.get("method")
    if name is None:
        return None
    if name not in METHODS:
        raise ApiRefusal("invalidrequest", f"The field method must be one of {', '.join(METHODS)}.", 400,
                         field="method")
    if METHODS[name].sends_code and not data.get("challenge"):
        raise ApiRefusal("invalidrequest", "The field challenge is required with a code sent by email or SMS.",
                         400, field="challenge")
    return name


@bp.post("/token")
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], scope="login")
@password_failures
def token():
    data = form_values("username", "password", "service", optional=("otp", "method", "challenge"))
    issued = api_tokens.issue_token(data["username"], data["password"], data["service"], data.get("otp"),
                                    client_address(), method=_method(data), challenge=data.get("challenge"))
    return jsonify(token=issued.token, token_type="Bearer", service=issued.record.service,  # noqa: S106
                   expires_at=issued.record.expires_at.isoformat(timespec="seconds") + "Z")


@bp.post("/token/code")
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], scope="login")
@password_failures
def token_code():
    data = form_values("username", "password", "service", "method")
    if data["method"] not in SENDING_METHODS:
        raise ApiRefusal("invalidrequest", f"The field method must be one of {', '.join(SENDING_METHODS)}.", 400,
                         field="method")
    sent = api_tokens.send_code(data["username"], data["password"], data["service"], data["method"],
                                client_address())
    return jsonify(method=sent.method, sent_to=sent.sent_to, valid_minutes=sent.valid_minutes,
                   challenge=sent.challenge)
