"""One structured line per request (JSON on the `portal.requests` logger), and a request id.

The id comes from the reverse proxy's X-Request-ID when it looks like one, else it is new;
it is returned in the X-Request-ID header so a person can quote it. Lines carry the path
without its query string, and never a header, a form field or a cookie.
"""
import json
import logging
import re
import time
import uuid

from flask import Flask, g, request
from sqlalchemy import inspect

LOGGER = logging.getLogger("portal.requests")
REQUEST_ID_HEADER = "X-Request-ID"
INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def start_request() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if INCOMING_ID.match(incoming) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _employee_id() -> int | None:
    """From what the request loaded anyway, never with a query of its own."""
    if "api_employee_id" in g:  # a bearer-token call (portal.api.auth)
        return g.api_employee_id
    user = g.get("_login_user")  # Flask-Login's loaded user, if any
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    identity = inspect(user).identity  # known even when a commit has expired the object
    return identity[0] if identity else None


def finish_request(response):
    request_id = g.get("request_id") or uuid.uuid4().hex
    response.headers[REQUEST_ID_HEADER] = request_id
    if LOGGER.isEnabledFor(logging.INFO):
        started = g.get("request_started", time.perf_counter())
        LOGGER.info(json.dumps({
            "request_id": request_id, "method": request.method, "path": request.path,
            "status": response.status_code, "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "employee_id": _employee_id(), "address": request.remote_addr,
        }, separators=(",", ":")))
    return response


def register(app: Flask) -> None:
    """First before_request and last after_request, so the time covers every other hook."""
    app.before_request_funcs.setdefault(None, []).insert(0, start_request)
    app.after_request_funcs.setdefault(None, []).insert(0, finish_request)  # run in reverse: last
    if not app.testing and not LOGGER.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        LOGGER.addHandler(handler)
        LOGGER.setLevel(logging.INFO)
        LOGGER.propagate = False
