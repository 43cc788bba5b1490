from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.security.permissions import require_manager
from portal.sms import config as sms_config
from portal.sms.gateway import send_test_sms
from portal.sysconfig import bp
from portal.sysconfig.forms import MfaSettingsForm, SmsGatewayForm, SmsTestForm
from portal.sysconfig.settings_page import settings_page


@bp.route("/mfa", methods=["GET", "POST"])
@require_manager
def mfa():
    return settings_page(MfaSettingsForm(), "sysconfig/mfa.html", "sysconfig.mfa", "MFA settings saved.")


def _sms_page(form: SmsGatewayForm, test_form: SmsTestForm, result=None):
    gateway = sms_config.get_gateway()
    return render_template("sysconfig/sms_gateway.html", form=form, test_form=test_form, result=result,
                           has_password=bool(gateway.password_encrypted), header_names=sms_config.header_names(gateway))


@bp.route("/sms-gateway", methods=["GET", "POST"])
@require_manager
def sms_gateway():
    form = SmsGatewayForm()
    if request.method == "GET":
        form.load(sms_config.get_gateway())
    elif form.validate_on_submit():
        changed = sms_config.save_gateway(form.values(), password=form.new_password(), headers=form.new_headers(),
                                          actor=current_user)
        flash("SMS Gateway settings saved." if changed else "Nothing to save: no setting was changed.", "success")
        return redirect(url_for("sysconfig.sms_gateway"))
    return _sms_page(form, SmsTestForm(formdata=None))


@bp.route("/sms-gateway/test", methods=["POST"])
@require_manager
def sms_gateway_test():
    test_form = SmsTestForm()
    result = None
    if test_form.validate_on_submit():
        result = send_test_sms(test_form.number.data.strip(), actor=current_user)
    form = SmsGatewayForm(formdata=None)
    form.load(sms_config.get_gateway())
    return _sms_page(form, test_form, result)
