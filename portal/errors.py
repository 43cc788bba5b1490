"""Error pages: styled HTML for people, JSON with a stable errorcode for the JSON calls."""
from flask import jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

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


def handle_unexpected_error(error: Exception):
    from flask import current_app

    current_app.logger.exception("Unhandled error on %s %s", request.method, request.path)
    return _respond(500, MESSAGES[500])


def register_errorhandlers(app) -> None:
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected_error)
