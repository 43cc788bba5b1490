from flask import Response, render_template, request, stream_with_context

from portal.audit import bp
from portal.audit.forms import AuditFilterForm
from portal.clock import utcnow
from portal.security.audit import EVENT_LABELS
from portal.security.permissions import require_administrator
from portal.services.audit_log import AuditFilter, audit_csv, audit_page


def _filter_form() -> tuple[AuditFilterForm, AuditFilter]:
    form = AuditFilterForm(request.args)
    return form, (form.to_filter() if form.validate() else AuditFilter())


@bp.get("/")
@require_administrator
def index():
    form, filters = _filter_form()
    page = audit_page(filters, before=request.args.get("before", type=int),
                      after=request.args.get("after", type=int))
    return render_template("audit/index.html", form=form, page=page, labels=EVENT_LABELS,
                           args=form.query_args() if not form.errors else {})


@bp.get("/export.csv")
@require_administrator
def export_csv():
    form, filters = _filter_form()
    filename = f"audit-log-{utcnow():%Y%m%d-%H%M%S}.csv"
    return Response(stream_with_context(audit_csv(filters)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
