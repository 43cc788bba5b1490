from portal.security.permissions import require_administrator
from portal.services.terminals import link_counts
from portal.sysconfig import bp
from portal.sysconfig.pos_forms import PosSettingsForm
from portal.sysconfig.settings_page import settings_page


# Administrators only: switching device security off opens every unlinked terminal to its URL.
@bp.route("/pos", methods=["GET", "POST"])
@require_administrator
def pos():
    linked, total = link_counts()
    return settings_page(PosSettingsForm(), "sysconfig/pos.html", "sysconfig.pos", "POS settings saved.",
                         linked=linked, total=total)
