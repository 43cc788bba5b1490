"""GET /api/openapi.json: the OpenAPI 3.1 document of every /api route (kept in the repo beside this file)."""
from functools import cache
from pathlib import Path

from flask import Response

from portal.api import bp

DOCUMENT = Path(__file__).with_name("openapi.json")


@cache
def _document() -> bytes:
    return DOCUMENT.read_bytes()


@bp.get("/openapi.json")
def openapi():
    """Public: it describes the API, it holds nothing about anyone."""
    return Response(_document(), mimetype="application/json")
