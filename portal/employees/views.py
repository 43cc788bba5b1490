from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.employees import bp
from portal.employees.forms import EmployeeForm, NewEmployeeForm, SearchForm, SetPasswordForm
from portal.extensions import db
from portal.models import Employee
from portal.security.permissions import require_administrator
from portal.services.employees import (
    EmployeeData,
    EmployeeRuleError,
    create_employee,
    search_employees,
    set_password,
    update_employee,
)

# The id column is a 32-bit integer; a larger number in the URL names no employee (and
# would overflow the database driver), so it is a 404 before any query.
MAX_EMPLOYEE_ID = 2**31 - 1


def _employee_or_404(employee_id: int) -> Employee:
    if employee_id > MAX_EMPLOYEE_ID:
        abort(404)
    return db.session.get(Employee, employee_id) or abort(404)


@bp.get("/")
@require_administrator
def index():
    form = SearchForm(request.args)
    query = form.q.data if form.validate() else ""
    page = search_employees(query, page=request.args.get("page", 1, type=int))
    return render_template("employees/index.html", form=form, page=page, q=query)


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
    employee = _employee_or_404(employee_id)
    form = EmployeeForm(obj=employee)
    if form.validate_on_submit():
        try:
            changed = update_employee(employee, form.employee_values(), current_user)
        except EmployeeRuleError as error:
            db.session.rollback()
            form[error.field].errors.append(error.message)
        else:
            flash("Saved." if changed else "Nothing to save: no field was changed.", "success")
            return redirect(url_for("employees.edit", employee_id=employee.id))
    return render_template("employees/form.html", form=form, employee=employee,
                           password_form=SetPasswordForm(employee, formdata=None))


@bp.post("/<int:employee_id>/password")
@require_administrator
def set_employee_password(employee_id: int):
    employee = _employee_or_404(employee_id)
    if employee.id == current_user.id:
        flash("Change your own password on My profile, where your current password is asked.", "warning")
        return redirect(url_for("account.profile"))
    password_form = SetPasswordForm(employee)
    if password_form.validate_on_submit():
        set_password(employee, password_form.password.data, actor=current_user)
        flash(f"A new password has been set for {employee.username}; their sessions have been ended.", "success")
        return redirect(url_for("employees.edit", employee_id=employee.id))
    return render_template("employees/form.html", form=EmployeeForm(obj=employee, formdata=None),
                           employee=employee, password_form=password_form), 400
