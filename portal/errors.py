"""Error pages: styled HTML for people, JSON with a stable errorcode for the JSON calls."""
from flask import Response, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from portal.extensions import db
from portal.security.session_guard import wants_json

ERRORCODES = {
    400: "invalidrequest",
    403: "forbidden",
    404: "notfound",
    405: "methodnotallowed",
    413: "toolarge",
    415: "unsupportedmediatype",
    429: "ratelimited",
    500: "servererror",
    503: "unavailable",
}

TITLES = {
    403: "Not allowed",
    404: "Page not found",
    429: "Too many attempts",
    500: "Something went wrong",
}

MESSAGES = {
    400: "The request could not be understood.",
    403: "You do not have permission to open this page.",
    404: "The page you asked for does not exist.",
    405: "This action is not allowed here.",
    413: "What you sent is too large.",
    429: "Too many attempts from your address. Wait a few minutes and try again.",
    500: "Something went wrong on our side. It has been logged; please try again.",
}


def _respond(code: int, message: str):
    if wants_json():
        return jsonify(error=message, errorcode=ERRORCODES.get(code, "error")), code
    title = TITLES.get(code, f"Error {code}")
    return render_template("errors/error.html", code=code, title=title, message=message), code


def handle_http_error(error: HTTPException):
    code = error.code or 500
    return _respond(code, MESSAGES.get(code, error.description or "Error"))


def handle_csrf_error(error: CSRFError):
    message = "The form had expired or was sent from elsewhere. Please try again."
    if wants_json():  # its own errorcode, so that a script can fetch a new token and retry
        return jsonify(error=message, errorcode="csrffailed"), 400
    return _respond(400, message)


UNAVAILABLE = "The service is unavailable for a moment. Please try again in a minute."
# Served while the database is down: no template, because rendering one loads the signed-in
# employee (Flask-Login's template context), which needs the database that just failed.
UNAVAILABLE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Unavailable · Back Office</title></head>
<body><main><h1>Unavailable</h1><p>{message}</p></main></body></html>
"""


def handle_database_error(error: SQLAlchemyError):
    """The database is unreachable (or a query failed): 503, no details, and the request's
    other hooks (request id, log line, security headers) still run."""
    current_app.logger.error("Database error on %s %s: %s", request.method, request.path,
                             error.__class__.__name__, exc_info=error)
    try:
        db.session.rollback()
    except SQLAlchemyError:
        db.session.remove()
    if wants_json():
        return jsonify(error=UNAVAILABLE, errorcode="unavailable"), 503
    return Response(UNAVAILABLE_PAGE.format(message=escape(UNAVAILABLE)), 503, mimetype="text/html")


def handle_unexpected_error(error: Exception):
    current_app.logger.exception("Unhandled error on %s %s", request.method, request.path)
    return _respond(500, MESSAGES[500])


def register_errorhandlers(app) -> None:
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(SQLAlchemyError, handle_database_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected_error)
