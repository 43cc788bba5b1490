"""Who is calling an /api operation: a bearer token, or the signed-in browser with its CSRF token."""
from functools import wraps

from flask import g, request
from flask_login import current_user

from portal.extensions import csrf, db
from portal.models import Employee
from portal.security.audit import record_event
from portal.services.api_tokens import SCOPES, ApiRefusal, bearer_token, service_scopes

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def api_caller(scope: str) -> Employee:
    """The employee behind this call, or an ApiRefusal (401; 403 for a token whose service may
    not call operations of this scope).

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
        if scope not in service_scopes(record.service):
            record_event("api.out_of_scope", actor=record.employee, subject=record.employee,
                         details={"service": record.service, "token_id": record.id, "operation": request.path})
            db.session.commit()
            raise ApiRefusal("outofscope", f"Tokens of the service {record.service} may not call this operation "
                             "(Sys Config › External services).", 403)
        return record.employee
    if current_user.is_authenticated:
        if request.method not in SAFE_METHODS:
            csrf.protect()
        return current_user._get_current_object()
    raise ApiRefusal("notsignedin", "Send a bearer token (POST /api/token) or sign in first.", 401)


def api_auth(scope: str):
    """Decorator: the view gets the calling employee as its first argument; a bearer token's
    service must be allowed this scope (one of api_tokens.SCOPES)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown API scope {scope!r}")

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            return view(api_caller(scope), *args, **kwargs)

        wrapped.api_auth = True  # tests/integration/test_route_guards.py knows these guard themselves
        wrapped.api_scope = scope
        return wrapped

    return decorator
