"""Employee maintenance (File Maintenance › Employee maintenance), administrators only."""
from flask import Blueprint

bp = Blueprint("employees", __name__, url_prefix="/employees")

from portal.employees import mfa_views, session_views, token_views, views  # noqa: E402,F401
