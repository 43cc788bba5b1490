"""What every /api call shares: JSON errors, the 64 KB body limit, and CORS for allowed origins."""
from flask import abort, current_app, jsonify, request

from portal.api import bp
from portal.json_body import json_object
from portal.services.api_tokens import ApiRefusal

CORS_HEADERS = {
    "Access-Control-Allow-Methods": "GET, POST, DELETE",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Max-Age": "600",
}


@bp.errorhandler(ApiRefusal)
def refused(refusal: ApiRefusal):
    return jsonify(error=refusal.message, errorcode=refusal.errorcode, **refusal.extra), refusal.status


@bp.before_request
def limit_body_size():
    """Over API_MAX_BODY_BYTES: 413 before the body is parsed (a missing length reads at most
    the app-wide MAX_CONTENT_LENGTH)."""
    limit = current_app.config["API_MAX_BODY_BYTES"]
    if (request.content_length or 0) > limit or len(request.get_data(cache=True)) > limit:
        abort(413)


@bp.after_request
def allow_listed_origins(response):
    """CORS only for origins in API_CORS_ORIGINS; never with credentials (tokens go in a header)."""
    origin = request.headers.get("Origin")
    if origin and origin in current_app.config["API_CORS_ORIGINS"]:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers.update(CORS_HEADERS)
    response.vary.add("Origin")
    return response


def form_values(*names: str, optional: tuple[str, ...] = (), max_length: int = 256) -> dict[str, str]:
    """Named string fields from a JSON object or a form-encoded body; 400 invalidrequest otherwise."""
    if request.is_json:
        data = json_object()
        if data is None:
            raise ApiRefusal("invalidrequest", "Send a JSON object.", 400)
    else:
        data = request.form
    values = {}
    for name in (*names, *optional):
        value = data.get(name)
        if value is None or value == "":
            if name in names:
                raise ApiRefusal("invalidrequest", f"The field {name} is required.", 400, field=name)
            continue
        if not isinstance(value, str) or len(value) > max_length:
            raise ApiRefusal("invalidrequest", f"The field {name} must be text of at most {max_length} characters.",
                             400, field=name)
        values[name] = value
    return values
