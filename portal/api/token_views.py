"""POST /api/token: a token for an external service (the mobile app), honouring MFA."""
from flask import current_app, jsonify

from portal.api import bp
from portal.api.http import form_values
from portal.extensions import limiter
from portal.security.client import client_address
from portal.security.rate_limits import password_failures
from portal.services import api_tokens


@bp.post("/token")
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], scope="login")
@password_failures
def token():
    data = form_values("username", "password", "service", optional=("otp",))
    issued = api_tokens.issue_token(data["username"], data["password"], data["service"], data.get("otp"),
                                    client_address())
    return jsonify(token=issued.token, token_type="Bearer", service=issued.record.service,  # noqa: S106
                   expires_at=issued.record.expires_at.isoformat(timespec="seconds") + "Z")
