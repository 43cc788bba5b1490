"""Employee maintenance › Edit: end an employee's sessions (administrators)."""
from flask import flash, redirect, request, url_for
from flask_login import current_user

from portal.employees import bp
from portal.employees.views import employee_or_404
from portal.security.permissions import require_administrator
from portal.services.sessions import end_sessions


@bp.post("/<int:employee_id>/sessions/end")
@require_administrator
def end_employee_sessions(employee_id: int):
    """End one session (form field `handle`) or, without it, all of the employee's sessions."""
    employee = employee_or_404(employee_id)
    handle = request.form.get("handle") or None
    ended = end_sessions(employee, actor=current_user, handle=handle)
    flash(f"{ended} session{'s' if ended != 1 else ''} of {employee.username} ended." if ended
          else "That session had already ended.", "success" if ended else "info")
    return redirect(url_for("employees.edit", employee_id=employee.id, _anchor="sessions"))
