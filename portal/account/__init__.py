"""The signed-in employee's own profile and password."""
from flask import Blueprint

bp = Blueprint("account", __name__, url_prefix="/account")

from portal.account import mfa_views, session_views, token_views, views  # noqa: E402,F401
