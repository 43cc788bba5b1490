"""POS Terminals: the list, New terminal, Edit (which unlinks), and the employees named on a terminal."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.clock import utcnow
from portal.extensions import db
from portal.models import Employee, PosTerminal
from portal.security.permissions import require_manager
from portal.services.pos_devices import device_security_on
from portal.services.terminal_log import recent_cache_warning
from portal.services.terminals import (
    TerminalRuleError,
    allow_employee,
    create_terminal,
    disallow_employee,
    get_terminal,
    search_terminals,
    update_terminal,
)
from portal.terminals import bp
from portal.terminals.forms import AddEmployeeForm, EditTerminalForm, SearchForm, TerminalForm
from portal.url_ids import get_by_id

UNLINKED = "The device is unlinked: it will be asked for a Terminal Key Identifier on its next visit."
RELINKED = ("A device was linked to this terminal after you opened the page; that link is kept. "
            "Untick Is linked to a physical device again to unlink it.")


def render_edit_page(terminal: PosTerminal, form=None, add_form=None, status: int = 200):
    return render_template(
        "terminals/form.html", terminal=terminal, form=form or EditTerminalForm(terminal, formdata=None),
        add_form=add_form or AddEmployeeForm(formdata=None), warning=recent_cache_warning(terminal, utcnow()),
    ), status


def _saved_message(changed: dict) -> str:
    if "is_linked" in changed:
        return f"Saved. {UNLINKED}"
    return "Saved." if changed else "Nothing to save: no field was changed."


@bp.get("/")
@require_manager
def index():
    form = SearchForm(request.args)
    query = form.q.data if form.validate() else ""
    page = search_terminals(query, page=request.args.get("page", 1, type=int))
    return render_template("terminals/index.html", form=form, page=page, q=query,
                           device_security=device_security_on())


@bp.route("/new", methods=["GET", "POST"])
@require_manager
def create():
    form = TerminalForm()
    if form.validate_on_submit():
        try:
            terminal = create_terminal(form.terminal_data(), current_user)
        except TerminalRuleError as error:
            db.session.rollback()
            form[error.field].errors.append(error.message)
        else:
            flash(f"Terminal {terminal.name} has been created.", "success")
            return redirect(url_for("terminals.edit", terminal_id=terminal.id))
    return render_template("terminals/form.html", form=form, terminal=None)


@bp.route("/<int:terminal_id>", methods=["GET", "POST"])
@require_manager
def edit(terminal_id: int):
    terminal = get_terminal(terminal_id) or abort(404)
    form = EditTerminalForm(terminal)
    if form.validate_on_submit():
        keep_link = form.keep_link(terminal)
        try:
            changed = update_terminal(terminal, form.terminal_data(), current_user, keep_link=keep_link)
        except TerminalRuleError as error:
            db.session.rollback()
            form[error.field].errors.append(error.message)
        else:
            flash(_saved_message(changed), "success")
            if form.unlink_asked() and terminal.is_linked:
                flash(RELINKED, "warning")
            return redirect(url_for("terminals.edit", terminal_id=terminal.id))
    return render_edit_page(terminal, form=form)


@bp.post("/<int:terminal_id>/employees")
@require_manager
def add_employee(terminal_id: int):
    terminal = get_terminal(terminal_id) or abort(404)
    add_form = AddEmployeeForm()
    if not add_form.validate_on_submit():
        return render_edit_page(terminal, add_form=add_form, status=400)
    employee = add_form.employee
    if allow_employee(terminal, employee, current_user):
        flash(f"{employee.full_name} ({employee.username}) may now use this terminal.", "success")
    else:
        flash(f"{employee.full_name} ({employee.username}) is already named on this terminal.", "info")
    return redirect(url_for("terminals.edit", terminal_id=terminal.id, _anchor="employees"))


@bp.post("/<int:terminal_id>/employees/<int:employee_id>/remove")
@require_manager
def remove_employee(terminal_id: int, employee_id: int):
    terminal = get_terminal(terminal_id) or abort(404)
    employee = get_by_id(Employee, employee_id) or abort(404)
    if disallow_employee(terminal, employee, current_user):
        flash(f"{employee.full_name} ({employee.username}) is no longer named on this terminal.", "success")
    return redirect(url_for("terminals.edit", terminal_id=terminal.id, _anchor="employees"))
