"""My profile › Sessions: the employee ends their other sessions."""
from flask import flash, redirect, request, url_for
from flask_login import current_user, login_required

from portal.account import bp
from portal.security.session_guard import current_session_record
from portal.services.sessions import end_sessions


@bp.post("/sessions/end")
@login_required
def end_own_sessions():
    """End one other session (form field `handle`) or all others; the current one stays."""
    ended = end_sessions(current_user, actor=current_user, handle=request.form.get("handle") or None,
                         keep=current_session_record())
    flash(f"{ended} other session{'s' if ended != 1 else ''} ended." if ended else "No other session was open.",
          "success" if ended else "info")
    return redirect(url_for("account.profile", _anchor="sessions"))
