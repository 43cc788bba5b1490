"""Employee maintenance › Edit: Reset MFA and Unlock (administrators)."""
from flask import flash, redirect, url_for
from flask_login import current_user

from portal.employees import bp
from portal.employees.forms import ResetMfaForm
from portal.employees.views import employee_or_404, render_edit_page
from portal.mfa import service as mfa
from portal.security.permissions import require_administrator


@bp.post("/<int:employee_id>/mfa/reset")
@require_administrator
def reset_mfa(employee_id: int):
    employee = employee_or_404(employee_id)
    form = ResetMfaForm()
    if not form.validate_on_submit():
        return render_edit_page(employee, reset_form=form, status=400)
    code = mfa.reset(employee, actor=current_user, reason=form.reason.data.strip())
    flash(f"MFA has been reset for {employee.username}; their sessions have been ended. "
          "They will be offered Signup for MFA at their next sign-in.", "success")
    if code:
        flash(f"Give {employee.username} this enrolment code in person: {code}. It works once, for 24 hours, "
              "and is shown only now.", "warning")
    elif mfa.enrolment_code_required(employee):
        flash(f"The enrolment code they need for Signup was emailed to {employee.email}.", "info")
    return redirect(url_for("employees.edit", employee_id=employee.id))


@bp.post("/<int:employee_id>/unlock")
@require_administrator
def unlock(employee_id: int):
    employee = employee_or_404(employee_id)
    mfa.unlock(employee, actor=current_user)
    flash(f"{employee.username} is unlocked.", "success")
    return redirect(url_for("employees.edit", employee_id=employee.id))
