"""Per-address limits shared by every place that checks a password: the login form, the
token endpoint, and the Web POS link and login calls. One budget of failed passwords per
address across all of them, so a guesser gains nothing by switching doors."""
from flask import current_app

from portal.extensions import limiter

# A JSON refusal that follows a correct password: the client is asked for its second factor.
PASSWORD_WAS_RIGHT = frozenset({"mfarequired"})


def _refused_password(response) -> bool:
    """The login form shows a refusal by re-rendering (200; a success redirects); the JSON
    calls answer 401 or 403, except when they ask for the second factor."""
    if not response.is_json:
        return response.status_code == 200
    body = response.get_json(silent=True) or {}
    return response.status_code in (401, 403) and body.get("errorcode") not in PASSWORD_WAS_RIGHT


password_failures = limiter.shared_limit(
    lambda: current_app.config["RATELIMIT_LOGIN_FAILURES"], scope="password-failures", methods=["POST"],
    deduct_when=_refused_password)
