"""POS Terminals › Client log: what a terminal's device has logged, newest first."""
from flask import abort, render_template, request

from portal.clock import utcnow
from portal.security.permissions import require_manager
from portal.services.terminal_log import LogPage, log_page, recent_cache_warning
from portal.services.terminals import get_terminal
from portal.terminals import bp
from portal.terminals.forms import LogFilterForm
from portal.url_ids import page_marker


@bp.get("/<int:terminal_id>/log")
@require_manager
def log(terminal_id: int):
    terminal = get_terminal(terminal_id) or abort(404)
    form = LogFilterForm(request.args)
    # An invalid filter shows its error and no rows, never the whole log as if filtered.
    page = (log_page(terminal.id, form.to_filter(), before=page_marker("before"), after=page_marker("after"))
            if form.validate() else LogPage([], None, None))
    return render_template("terminals/log.html", terminal=terminal, form=form, page=page, args=form.query_args(),
                           warning=recent_cache_warning(terminal, utcnow()))
