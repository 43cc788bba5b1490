from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.clock import utcnow
from portal.employees import bp
from portal.employees.forms import EditEmployeeForm, NewEmployeeForm, ResetMfaForm, SearchForm, SetPasswordForm
from portal.extensions import db
from portal.mfa import service as mfa
from portal.models import Employee
from portal.security.permissions import require_administrator
from portal.services.api_tokens import live_tokens
from portal.services.employees import (
    EmployeeData,
    EmployeeRuleError,
    create_employee,
    search_employees,
    set_password,
    update_employee,
)
from portal.services.sessions import session_views
from portal.url_ids import get_by_id


def employee_or_404(employee_id: int) -> Employee:
    return get_by_id(Employee, employee_id) or abort(404)


def render_edit_page(employee: Employee, form=None, password_form=None, reset_form=None, status: int = 200):
    """Employee maintenance › Edit with its forms: details, password, and the MFA section."""
    return render_template(
        "employees/form.html", employee=employee,
        form=form or EditEmployeeForm(obj=employee, formdata=None),
        password_form=password_form or SetPasswordForm(employee, formdata=None),
        reset_form=reset_form or ResetMfaForm(formdata=None),
        mfa=mfa.employee_mfa_summary(employee), now=utcnow(), sessions=session_views(employee),
        tokens=live_tokens(employee),
    ), status


@bp.get("/")
@require_administrator
def index():
    form = SearchForm(request.args)
    query, locked = (form.q.data, form.locked.data) if form.validate() else ("", False)
    page = search_employees(query, page=request.args.get("page", 1, type=int), locked_at=utcnow() if locked else None)
    return render_template("employees/index.html", form=form, page=page, q=query, locked=locked)


@bp.route("/new", methods=["GET", "POST"])
@require_administrator
def create():
    form = NewEmployeeForm()
    if form.validate_on_submit():
        try:
            employee = create_employee(EmployeeData(**form.employee_values()), form.password.data, current_user)
        except EmployeeRuleError as error:
            form[error.field].errors.append(error.message)
        else:
            flash(f"Employee {employee.username} has been created.", "success")
            return redirect(url_for("employees.edit", employee_id=employee.id))
    return render_template("employees/form.html", form=form, employee=None)


@bp.route("/<int:employee_id>", methods=["GET", "POST"])
@require_administrator
def edit(employee_id: int):
    employee = employee_or_404(employee_id)
    form = EditEmployeeForm(obj=employee)
    if form.validate_on_submit():
        try:
            changed = update_employee(employee, form.employee_values(), current_user)
        except EmployeeRuleError as error:
            db.session.rollback()
            form[error.field].errors.append(error.message)
        else:
            flash("Saved." if changed else "Nothing to save: no field was changed.", "success")
            return redirect(url_for("employees.edit", employee_id=employee.id))
    return render_edit_page(employee, form=form)


@bp.post("/<int:employee_id>/password")
@require_administrator
def set_employee_password(employee_id: int):
    employee = employee_or_404(employee_id)
    if employee.id == current_user.id:
        flash("Change your own password on My profile, where your current password is asked.", "warning")
        return redirect(url_for("account.profile"))
    password_form = SetPasswordForm(employee)
    if password_form.validate_on_submit():
        set_password(employee, password_form.password.data, actor=current_user)
        flash(f"A new password has been set for {employee.username}; their sessions have been ended.", "success")
        return redirect(url_for("employees.edit", employee_id=employee.id))
    return render_edit_page(employee, password_form=password_form, status=400)
