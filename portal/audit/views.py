from flask import Response, abort, render_template, request, stream_with_context

from portal.audit import bp
from portal.audit.forms import AuditFilterForm
from portal.clock import utcnow
from portal.security.audit import EVENT_LABELS
from portal.security.permissions import require_administrator
from portal.services.audit_log import AuditFilter, AuditPage, audit_csv, audit_page
from portal.url_ids import page_marker


def _filter_form() -> tuple[AuditFilterForm, AuditFilter | None]:
    """The filters from the URL, or None when they are invalid: an invalid filter shows
    its error and no rows, never the whole log passed off as the filtered result."""
    form = AuditFilterForm(request.args)
    return form, (form.to_filter() if form.validate() else None)


@bp.get("/")
@require_administrator
def index():
    form, filters = _filter_form()
    page = (audit_page(filters, before=page_marker("before"), after=page_marker("after"))
            if filters is not None else AuditPage([], None, None))
    return render_template("audit/index.html", form=form, page=page, labels=EVENT_LABELS,
                           args=form.query_args())


@bp.get("/export.csv")
@require_administrator
def export_csv():
    form, filters = _filter_form()
    if filters is None:
        abort(400)
    filename = f"audit-log-{utcnow():%Y%m%d-%H%M%S}.csv"
    return Response(stream_with_context(audit_csv(filters)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
