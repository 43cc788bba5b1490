"""The one-time-password screen after the password: verify, Skip, Signup for MFA."""
from flask import abort, flash, redirect, render_template, request, url_for

from portal.auth import bp
from portal.auth.forms import (
    ENROLMENT_CODE_REFUSED,
    FAILED_CODE,
    ActivateForm,
    CodeForm,
    SavedCodesForm,
    signup_form_for,
)
from portal.extensions import limiter
from portal.mfa import service as mfa
from portal.models import MfaCredential
from portal.security.audit import record_event
from portal.security.client import client_address
from portal.security.pending import pending_employee, pending_mark, pending_next, touch_pending
from portal.security.session_guard import begin_session

SECOND_STEP_LIMIT = "30 per minute"


def _employee():
    return pending_employee() or abort(redirect(url_for("auth.login")))


def _finish_sign_in(employee, message: str | None = None, category: str = "info"):
    next_url = pending_next()
    begin_session(employee)  # clears the cookie, so the message is flashed after it
    if message:
        flash(message, category)
    return redirect(next_url or url_for("auth.home"))


def _binding() -> str:
    """Codes sent during this sign-in belong to this browser's pending state only."""
    return pending_mark("id") or ""


def _selected_method(methods, asked: str | None):
    """The method whose code field shows: the one asked for, else the employee's first factor;
    a recovery code only when asked for, a sending method only once its code was sent."""
    names = {m.name: m for m in methods}
    method = names.get(asked) or next((m for m in methods if m.name != "recovery"), None)
    if method is not None and method.sends_code and pending_mark("sent") != method.name:
        return None  # offer "Send code by email" first
    return method


def _render(employee, form=None, enrolment=None, activate_form=None, codes=None, saved_form=None,
            signup_form=None, sent_enrolment=None, status=200):
    methods = mfa.methods_for(employee)
    selected = _selected_method(methods, form.method.data if form else request.values.get("method"))
    form = form or CodeForm(method=selected.name if selected else "")
    if selected:
        form.code.label.text = selected.field_label
    elif form.code.errors:  # no code field to show them beside
        form.form_errors.extend(form.code.errors)
    return render_template(
        "auth/second_step.html", employee=employee, status=mfa.status(employee), form=form,
        methods=methods, selected=selected, enrolment=enrolment, activate_form=activate_form,
        codes=codes, saved_form=saved_form, signup_form=signup_form or signup_form_for(employee, formdata=None),
        code_required=mfa.enrolment_code_required(employee), sent_enrolment=sent_enrolment,
        dialog_urls={"activate": url_for("auth.signup_activate"), "close": url_for("auth.second_step"),
                     "finish": url_for("auth.signup_finish")},
    ), status


def _recovery_notice(result) -> tuple[str | None, str]:
    """What to tell about recovery codes after a successful second step, if anything."""
    left = result.recovery_codes_left
    message = f"Recovery code accepted. {left} recovery codes remain." if result.method == "recovery" else None
    if left is not None and left <= mfa.LOW_RECOVERY_CODES:
        low = f"Only {left} recovery codes are left: generate new ones on your profile."
        return (f"{message} {low}" if message else low), "warning"
    return message, "info"


@bp.route("/login/verify", methods=["GET", "POST"])
@limiter.limit(SECOND_STEP_LIMIT, methods=["POST"])
def second_step():
    employee = _employee()
    form = CodeForm()
    if request.method == "POST" and form.validate_on_submit():
        result = mfa.verify(employee, form.method.data, form.code.data or "", client_address(), commit=False,
                            binding=_binding())
        if result.ok:
            response = _finish_sign_in(employee, *_recovery_notice(result))
            mfa.notify_after_sign_in(employee, result)
            return response
        if result.locked_until:
            form.form_errors.append(f"Too many wrong codes. Try again after {result.locked_until:%H:%M} UTC.")
        else:
            form.code.errors.append(FAILED_CODE)
        return _render(employee, form=form, status=200)
    return _render(employee, form=CodeForm(method=request.args.get("method", "totp")))


@bp.post("/login/send")
@limiter.limit("10 per minute")
def send_code():
    """Send code by email (or SMS), or Resend: rate limited per employee in the service."""
    employee = _employee()
    method = request.form.get("method", "")
    try:
        where = mfa.send_code(employee, method, _binding())
    except mfa.CodeNotSent as refusal:
        flash(refusal.message, "warning")
        return redirect(url_for("auth.second_step", method=method))
    touch_pending(sent=method)
    minutes = mfa.sent_code_validity_minutes(method)
    flash(f"We sent a code to {where}. It is valid for {minutes} minutes.", "info")
    return redirect(url_for("auth.second_step", method=method))


@bp.post("/login/skip")
def skip():
    employee = _employee()
    if not mfa.status(employee).may_skip:
        abort(403)
    record_event("mfa.skipped", actor=employee, subject=employee)
    return _finish_sign_in(employee)


@bp.post("/login/signup")
@limiter.limit("10 per minute")
def signup():
    employee = _employee()
    if not mfa.status(employee).may_sign_up:
        abort(403)
    form = signup_form_for(employee)
    if not form.validate_on_submit():
        return _render(employee, signup_form=form, status=400)
    try:
        prepared = mfa.prepare(employee, form.enrolment_code.data, client_address(), form.method.data, _binding())
    except mfa.EnrolmentCodeRefused:
        form.enrolment_code.errors.append(ENROLMENT_CODE_REFUSED)
        return _render(employee, signup_form=form, status=400)
    except mfa.CodeNotSent as refusal:
        form.method.errors.append(refusal.message)
        return _render(employee, signup_form=form, status=400)
    if isinstance(prepared, MfaCredential):  # a code was sent: the popup asks for it
        touch_pending(enrolment_id=prepared.id)
        return _render(employee, sent_enrolment=prepared, activate_form=ActivateForm.for_provider(prepared.provider))
    touch_pending(enrolment_id=prepared.credential.id)
    return _render(employee, enrolment=prepared, activate_form=ActivateForm())


@bp.post("/login/signup/activate")
@limiter.limit(SECOND_STEP_LIMIT)
def signup_activate():
    employee = _employee()
    credential = mfa.pending_credential(employee, pending_mark("enrolment_id"))
    if not mfa.status(employee).may_sign_up or credential is None:
        abort(403)
    form = ActivateForm.for_provider(credential.provider)
    if form.validate_on_submit():
        codes = mfa.activate(employee, credential.id, form.code.data or "", client_address(), _binding())
        if codes is not None:
            touch_pending(signed_up=credential.id)
            return _render(employee, codes=codes, saved_form=SavedCodesForm())
        form.code.errors.append(FAILED_CODE)
    if credential.provider == "totp":
        return _render(employee, enrolment=mfa.pending_enrolment(employee, credential.id), activate_form=form)
    return _render(employee, sent_enrolment=credential, activate_form=form)


@bp.post("/login/signup/finish")
def signup_finish():
    employee = _employee()
    # Only the session that has just proved a code from the new authenticator gets through here.
    if not mfa.is_active_credential(employee, pending_mark("signed_up")):
        abort(403)
    form = SavedCodesForm()
    if not form.validate_on_submit():
        return _render(employee, codes=None, saved_form=form, status=400)
    return _finish_sign_in(employee, "Multi-factor authentication is now on for your account.", "success")
