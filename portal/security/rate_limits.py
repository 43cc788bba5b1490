"""Per-address limits shared by every place that checks a password: the login form, the
token endpoint, and the Web POS link and login calls. One budget of failed passwords per
address across all of them, so a guesser gains nothing by switching doors."""
from flask import current_app

from portal.extensions import limiter


def _refused_password(response) -> bool:
    """The login form shows a refusal by re-rendering (200; a success redirects); the JSON
    calls answer 401 or 403."""
    return response.status_code in (401, 403) if response.is_json else response.status_code == 200


password_failures = limiter.shared_limit(
    lambda: current_app.config["RATELIMIT_LOGIN_FAILURES"], scope="password-failures", methods=["POST"],
    deduct_when=_refused_password)
