"""File Maintenance › POS Terminals: the terminal registry (managers and administrators)."""
from flask import Blueprint

bp = Blueprint("terminals", __name__, url_prefix="/terminals")

from portal.terminals import log_views, views  # noqa: E402,F401
