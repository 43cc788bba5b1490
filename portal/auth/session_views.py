"""Calls of the session-timeout popup (static/js/session-timeout.js).

The status call is not activity (the guard leaves last activity alone for it);
"Stay signed in" is, and is written at once.
"""
from flask import jsonify
from flask_login import login_required

from portal.auth import bp
from portal.clock import utcnow
from portal.security import session_policy
from portal.security.session_guard import current_session_record, record_activity


def _status():
    record = current_session_record()
    policy = session_policy.current()
    now = utcnow()
    return jsonify(
        signed_in=True,
        inactivity_timeout=policy.inactivity is not None,
        expires_in=max(int((policy.expires_at(record) - now).total_seconds()), 0),
        warning=int(policy.warning.total_seconds()),
    )


@bp.get("/session/status")
@login_required
def session_status():
    return _status()


@bp.post("/session/keepalive")
@login_required
def session_keepalive():
    record_activity(current_session_record(), utcnow(), force=True)
    return _status()
