"""Numbers that come from URLs: row ids and keyset page markers, bounded before any query."""
from flask import request

from portal.extensions import db

# Id columns are 32-bit integers: a larger number names no row (and would overflow the driver).
MAX_ROW_ID = 2**31 - 1
# Page markers ("before"/"after" a row); anything else (text, beyond 64 bits) is ignored.
MAX_MARKER = 2**63 - 1


def get_by_id(model, row_id: int):
    """The row with this id, or None; out-of-range ids cost no query."""
    return db.session.get(model, row_id) if 0 < row_id <= MAX_ROW_ID else None


def page_marker(name: str) -> int | None:
    value = request.args.get(name, type=int)
    return value if value is not None and -MAX_MARKER <= value <= MAX_MARKER else None
