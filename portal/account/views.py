from flask import flash, redirect, url_for
from flask_login import current_user, login_required, login_user

from portal.account import bp
from portal.account.forms import ChangePasswordForm
from portal.account.mfa_views import render_profile
from portal.extensions import limiter
from portal.security.session_guard import current_session_record
from portal.services.employees import set_password


@bp.route("/", methods=["GET", "POST"])
@login_required
@limiter.limit("10 per minute", methods=["POST"])
def profile():
    form = ChangePasswordForm(current_user)
    if form.validate_on_submit():
        set_password(current_user, form.password.data, actor=current_user, keep_session=current_session_record())
        login_user(current_user)  # the session token rotated; keep this browser signed in
        flash("Your password has been changed. Your other sessions have been ended.", "success")
        return redirect(url_for("account.profile"))
    return render_profile(form=form)
