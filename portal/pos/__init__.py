"""The Web POS device page (/pos) and the calls its script makes (/pos/api/...).

No back-office sign-in here: a device proves itself with the device token it got at
linking (portal.security.device_tokens), and employees sign in at the terminal.
"""
from flask import Blueprint

bp = Blueprint("pos", __name__, url_prefix="/pos")

from portal.pos import views  # noqa: E402,F401
