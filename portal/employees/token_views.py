"""Employee maintenance › Edit: revoke an employee's API tokens (administrators)."""
from flask import flash, redirect, url_for
from flask_login import current_user

from portal.employees import bp
from portal.employees.views import employee_or_404
from portal.security.permissions import require_administrator
from portal.services.token_admin import BY_ADMINISTRATOR, revoke_all, revoke_one


def _back(employee_id: int):
    return redirect(url_for("employees.edit", employee_id=employee_id, _anchor="api-tokens"))


@bp.post("/<int:employee_id>/tokens/<int:token_id>/revoke")
@require_administrator
def revoke_employee_token(employee_id: int, token_id: int):
    employee = employee_or_404(employee_id)
    if revoke_one(employee, token_id, actor=current_user, reason=BY_ADMINISTRATOR):
        flash(f"API token of {employee.username} revoked.", "success")
    else:
        flash("That token had already been revoked or has expired.", "info")
    return _back(employee.id)


@bp.post("/<int:employee_id>/tokens/revoke-all")
@require_administrator
def revoke_employee_tokens(employee_id: int):
    employee = employee_or_404(employee_id)
    revoked = revoke_all(employee, actor=current_user, reason=BY_ADMINISTRATOR)
    flash(f"{revoked} API token{'s' if revoked != 1 else ''} of {employee.username} revoked." if revoked
          else f"{employee.username} had no API tokens.", "success" if revoked else "info")
    return _back(employee.id)
