"""/api: the token endpoint for external systems and the JSON MFA operations (OpenAPI at /api/openapi.json).

Bearer-token calls carry no cookie, so the blueprint is exempt from the global CSRF check;
calls authenticated by the browser session check CSRF themselves (portal.api.auth).
"""
from flask import Blueprint

from portal.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api")
csrf.exempt(bp)

from portal.api import docs_views, http, mfa_views, token_views  # noqa: E402,F401
