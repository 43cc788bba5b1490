"""Sign-in, sign-out and the first-administrator setup page."""
from flask import Blueprint

bp = Blueprint("auth", __name__)

from portal.auth import second_step, session_views, views  # noqa: E402,F401  (routes register on bp)
