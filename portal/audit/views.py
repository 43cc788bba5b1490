from flask import Response, abort, render_template, request, stream_with_context

from portal.audit import bp
from portal.audit.forms import AuditFilterForm
from portal.clock import utcnow
from portal.security.audit import EVENT_LABELS
from portal.security.permissions import require_administrator
from portal.services.audit_log import AuditFilter, AuditPage, audit_csv, audit_page

# Page markers are row ids; anything else (text, out of a 64-bit column's range) is ignored.
MAX_ID = 2**63 - 1


def _filter_form() -> tuple[AuditFilterForm, AuditFilter | None]:
    """The filters from the URL, or None when they are invalid: an invalid filter shows
    its error and no rows, never the whole log passed off as the filtered result."""
    form = AuditFilterForm(request.args)
    return form, (form.to_filter() if form.validate() else None)


def _page_marker(name: str) -> int | None:
    value = request.args.get(name, type=int)
    return value if value is not None and -MAX_ID <= value <= MAX_ID else None


@bp.get("/")
@require_administrator
def index():
    form, filters = _filter_form()
    page = (audit_page(filters, before=_page_marker("before"), after=_page_marker("after"))
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
