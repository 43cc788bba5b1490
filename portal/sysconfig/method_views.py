from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import settings
from portal.security.permissions import require_manager
from portal.sysconfig import bp
from portal.sysconfig.method_forms import MfaMethodsForm


@bp.route("/mfa-methods", methods=["GET", "POST"])
@require_manager
def mfa_methods():
    form = MfaMethodsForm()
    if request.method == "GET":
        form.load(settings.get)
    elif form.validate_on_submit():
        changed = settings.save(form.changes(), actor=current_user)
        flash("MFA methods saved." if changed else "Nothing to save: no setting was changed.", "success")
        return redirect(url_for("sysconfig.mfa_methods"))
    return render_template("sysconfig/mfa_methods.html", form=form)
