"""My profile › API tokens: the employee revokes one of their own tokens."""
from flask import flash, redirect, url_for
from flask_login import current_user, login_required

from portal.account import bp
from portal.services.token_admin import BY_EMPLOYEE, revoke_one


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke_own_token(token_id: int):
    """Only the employee's own live tokens: any other id changes nothing."""
    if revoke_one(current_user, token_id, actor=current_user, reason=BY_EMPLOYEE):
        flash("API token revoked. The app that used it must sign in again.", "success")
    else:
        flash("That token had already been revoked or has expired.", "info")
    return redirect(url_for("account.profile", _anchor="api-tokens"))
