"""My profile › Multi-factor authentication: sign up, new recovery codes, replace, switch off.

Changing an existing enrolment needs a fresh proof (password and a current
code, within FRESH_PROOF_LIFETIME), so someone at an unlocked desk cannot
change a colleague's MFA.
"""
from datetime import datetime, timedelta

from flask import abort, flash, redirect, render_template, session, url_for
from flask_login import current_user, login_required

from portal.account import bp
from portal.account.forms import ChangePasswordForm, ConfirmIdentityForm
from portal.auth.forms import ENROLMENT_CODE_REFUSED, FAILED_CODE, ActivateForm, SavedCodesForm, signup_form_for
from portal.clock import utcnow
from portal.extensions import limiter
from portal.mfa import service as mfa
from portal.models import MfaCredential
from portal.security.client import client_address
from portal.security.session_guard import current_session_record
from portal.services.api_tokens import live_tokens
from portal.services.sessions import session_views

FRESH_PROOF_LIFETIME = timedelta(minutes=5)
FRESH_KEY = "mfa_fresh_at"
SIGNED_UP_KEY = "mfa_signed_up"
ENROLMENT_KEY = "mfa_enrolment_id"


def has_fresh_proof() -> bool:
    at = session.get(FRESH_KEY)
    return bool(at) and utcnow() - datetime.fromisoformat(at) <= FRESH_PROOF_LIFETIME


def render_profile(status=200, **panels):
    """The profile page with whatever MFA panel (dialog, codes, proof form) the step needs."""
    return render_template(
        "account/profile.html", form=panels.pop("form", None) or ChangePasswordForm(current_user, formdata=None),
        mfa_status=mfa.status(current_user), summary=mfa.employee_mfa_summary(current_user),
        fresh=has_fresh_proof(), proof_form=panels.pop("proof_form", None) or ConfirmIdentityForm(formdata=None),
        low_codes=mfa.LOW_RECOVERY_CODES, code_required=mfa.enrolment_code_required(current_user),
        signup_form=panels.pop("signup_form", None) or signup_form_for(current_user, formdata=None),
        sessions=session_views(current_user, current_session_record()), tokens=live_tokens(current_user),
        dialog_urls={"activate": url_for("account.mfa_activate"), "close": url_for("account.profile"),
                     "finish": url_for("account.mfa_finish")},
        **panels,
    ), status


def _require(condition: bool):
    if not condition:
        abort(403)


@bp.post("/mfa/confirm")
@login_required
@limiter.limit("10 per minute")
def mfa_confirm():
    form = ConfirmIdentityForm()
    if form.validate_on_submit():
        if mfa.confirm_identity(current_user, form.password.data, form.code.data, client_address()):
            session[FRESH_KEY] = utcnow().isoformat()
            flash("Confirmed. For the next 5 minutes you can change your MFA.", "success")
            return redirect(url_for("account.profile"))
        form.form_errors.append("The password or the code is not valid.")
    return render_profile(proof_form=form, status=400)


@bp.post("/mfa/signup")
@login_required
@limiter.limit("10 per minute")
def mfa_signup():
    """Signup for MFA from the profile: when not enrolled, or to replace the app after a fresh proof."""
    status = mfa.status(current_user)
    _require(status.enabled and (not status.enrolled or has_fresh_proof()))
    form = signup_form_for(current_user)
    if not form.validate_on_submit():
        return render_profile(signup_form=form, status=400)
    try:
        prepared = mfa.prepare(current_user, form.enrolment_code.data, client_address(), form.method.data,
                               _binding())
    except mfa.EnrolmentCodeRefused:
        form.enrolment_code.errors.append(ENROLMENT_CODE_REFUSED)
        return render_profile(signup_form=form, status=400)
    except mfa.CodeNotSent as refusal:
        form.method.errors.append(refusal.message)
        return render_profile(signup_form=form, status=400)
    if isinstance(prepared, MfaCredential):  # a code was sent: the popup asks for it
        session[ENROLMENT_KEY] = prepared.id
        return render_profile(sent_enrolment=prepared, activate_form=ActivateForm.for_provider(prepared.provider))
    session[ENROLMENT_KEY] = prepared.credential.id
    return render_profile(enrolment=prepared, activate_form=ActivateForm())


def _binding() -> str:
    """Codes sent for a signup on the profile belong to this browser's session only."""
    record = current_session_record()
    return record.id if record else ""


@bp.post("/mfa/activate")
@login_required
@limiter.limit("30 per minute")
def mfa_activate():
    status = mfa.status(current_user)
    credential = mfa.pending_credential(current_user, session.get(ENROLMENT_KEY))
    # Replacing an app that is in use needs a fresh proof at this step too, not only at signup.
    _require(credential is not None and (not status.enrolled or has_fresh_proof()))
    form = ActivateForm.for_provider(credential.provider)
    if form.validate_on_submit():
        codes = mfa.activate(current_user, credential.id, form.code.data or "", client_address(), _binding())
        if codes is not None:
            session.pop(ENROLMENT_KEY, None)
            session[SIGNED_UP_KEY] = credential.id
            return render_profile(codes=codes, saved_form=SavedCodesForm())
        form.code.errors.append(FAILED_CODE)
    if credential.provider == "totp":
        return render_profile(enrolment=mfa.pending_enrolment(current_user, credential.id), activate_form=form)
    return render_profile(sent_enrolment=credential, activate_form=form)


@bp.post("/mfa/finish")
@login_required
def mfa_finish():
    _require(mfa.is_active_credential(current_user, session.pop(SIGNED_UP_KEY, None)))
    flash("Multi-factor authentication is on for your account.", "success")
    return redirect(url_for("account.profile"))


@bp.post("/mfa/recovery-codes")
@login_required
def mfa_recovery_codes():
    _require(mfa.is_enrolled(current_user) and has_fresh_proof())
    return render_profile(new_codes=mfa.regenerate_recovery_codes(current_user))


@bp.post("/mfa/off")
@login_required
def mfa_off():
    status = mfa.status(current_user)
    _require(status.enrolled and not status.mandatory and has_fresh_proof())
    mfa.deactivate(current_user)
    session.pop(FRESH_KEY, None)
    flash("Multi-factor authentication is off for your account.", "warning")
    return redirect(url_for("account.profile"))
