"""Sys Config (File Maintenance › Sys Config): managers and administrators."""
from flask import Blueprint

bp = Blueprint("sysconfig", __name__, url_prefix="/sysconfig")

from portal.sysconfig import method_views, policy_views, pos_views, service_views, views  # noqa: E402,F401
