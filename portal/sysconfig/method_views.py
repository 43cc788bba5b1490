from portal.security.permissions import require_manager
from portal.sysconfig import bp
from portal.sysconfig.method_forms import MfaMethodsForm
from portal.sysconfig.settings_page import settings_page


@bp.route("/mfa-methods", methods=["GET", "POST"])
@require_manager
def mfa_methods():
    return settings_page(MfaMethodsForm(), "sysconfig/mfa_methods.html", "sysconfig.mfa_methods",
                         "MFA methods saved.")
