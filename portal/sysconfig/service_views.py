"""Sys Config › External services: the services that may ask for API tokens (managers)."""
from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from portal import settings
from portal.extensions import db
from portal.security.permissions import require_manager
from portal.services import token_admin
from portal.services.api_tokens import MOBILE_APP
from portal.sysconfig import bp
from portal.sysconfig.service_forms import AddServiceForm, ExternalServicesForm, RemoveServiceForm
from portal.sysconfig.settings_page import settings_page

TEMPLATE = "sysconfig/external_services.html"


def _page(add_form: AddServiceForm, status: int):
    """The page with the saved list and the add form as posted (with its errors)."""
    form = ExternalServicesForm(formdata=None)
    form.load(settings.get)
    return render_template(TEMPLATE, form=form, add_form=add_form, mobile_app=MOBILE_APP), status


@bp.route("/external-services", methods=["GET", "POST"])
@require_manager
def external_services():
    return settings_page(ExternalServicesForm(), TEMPLATE, "sysconfig.external_services",
                         "External services saved.", add_form=AddServiceForm(formdata=None), mobile_app=MOBILE_APP)


@bp.post("/external-services/add")
@require_manager
def add_external_service():
    add_form = AddServiceForm()
    if not add_form.validate_on_submit():
        return _page(add_form, 400)
    try:
        token_admin.add_service(add_form.name.data, current_user)
    except token_admin.ServiceRuleError as error:  # added by someone else since the form was checked
        db.session.rollback()
        add_form.name.errors.append(str(error))
        return _page(add_form, 400)
    flash(f"Service {add_form.name.data} added and enabled.", "success")
    return redirect(url_for("sysconfig.external_services"))


@bp.post("/external-services/remove")
@require_manager
def remove_external_service():
    form = RemoveServiceForm()
    name = form.service.data.strip() if form.validate_on_submit() else ""
    try:
        revoked = token_admin.remove_service(name, current_user)
    except token_admin.ServiceRuleError as error:
        db.session.rollback()
        flash(str(error), "danger")
    else:
        flash(f"Service {name} removed" + (f"; {revoked} of its tokens revoked." if revoked else "."), "success")
    return redirect(url_for("sysconfig.external_services"))
