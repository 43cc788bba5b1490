"""The audit log viewer (File Maintenance › Audit log), administrators only."""
from flask import Blueprint

bp = Blueprint("audit", __name__, url_prefix="/audit")

from portal.audit import views  # noqa: E402,F401
