"""Who is calling an /api operation: a bearer token, or the signed-in browser with its CSRF token."""
from functools import wraps

from flask import g, request
from flask_login import current_user

from portal.extensions import csrf
from portal.models import Employee
from portal.services.api_tokens import ApiRefusal, bearer_token

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def api_caller() -> Employee:
    """The employee behind this call, or an ApiRefusal (401).

    A bearer token wins over a cookie. The browser session has passed the session guard by
    now (it runs before every request); its state-changing calls must carry the CSRF token.
    """
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        record = bearer_token(header[7:].strip())
        if record is None:
            raise ApiRefusal("invalidtoken", "The token is not valid: it has expired or was revoked.", 401)
        g.api_token = record
        g.api_employee_id = record.employee_id
        return record.employee
    if current_user.is_authenticated:
        if request.method not in SAFE_METHODS:
            csrf.protect()
        return current_user._get_current_object()
    raise ApiRefusal("notsignedin", "Send a bearer token (POST /api/token) or sign in first.", 401)


def api_auth(view):
    """Decorator: the view gets the calling employee as its first argument."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        return view(api_caller(), *args, **kwargs)

    wrapped.api_auth = True  # tests/integration/test_route_guards.py knows these guard themselves
    return wrapped
