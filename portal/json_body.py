"""Reading a request's JSON object the same careful way in every JSON call."""
from flask import request


def json_object() -> dict | None:
    """The body as a JSON object, or None when it is not one: not JSON, another JSON type, or
    nested so deeply that the parser gives up (a RecursionError must not become a 500)."""
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        return None
    return data if isinstance(data, dict) else None
