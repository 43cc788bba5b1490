from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import settings
from portal.security.permissions import require_manager
from portal.sysconfig import bp
from portal.sysconfig.forms import MfaSettingsForm


@bp.route("/mfa", methods=["GET", "POST"])
@require_manager
def mfa():
    form = MfaSettingsForm()
    if request.method == "GET":
        form.load(settings.get)
    elif form.validate_on_submit():
        changed = settings.save(form.changes(), actor=current_user)
        flash("MFA settings saved." if changed else "Nothing to save: no setting was changed.", "success")
        return redirect(url_for("sysconfig.mfa"))
    return render_template("sysconfig/mfa.html", form=form)
