"""Sys Config › Access policies: list, create, edit, delete (managers)."""
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from portal.extensions import db
from portal.models import AccessPolicy
from portal.security.permissions import require_manager
from portal.sysconfig import bp
from portal.sysconfig.policies import (
    PolicyRuleError,
    all_policies,
    create_policy,
    delete_policy,
    member_counts,
    update_policy,
)
from portal.sysconfig.policy_forms import METHOD_LABELS, DeletePolicyForm, PolicyForm
from portal.url_ids import get_by_id


def policy_or_404(policy_id: int) -> AccessPolicy:
    return get_by_id(AccessPolicy, policy_id) or abort(404)


@bp.get("/access-policies")
@require_manager
def policies():
    return render_template("sysconfig/policies.html", policies=all_policies(), members=member_counts(),
                           delete_form=DeletePolicyForm(formdata=None), labels=METHOD_LABELS)


def _save(form: PolicyForm, policy: AccessPolicy | None):
    """Validate and save the form; a redirect when saved, else the page again with its errors."""
    if form.validate_on_submit():
        try:
            if policy is None:
                policy = create_policy(form.values(), current_user)
                flash(f"Access policy {policy.name} created.", "success")
            else:
                changed = update_policy(policy, form.values(), current_user)
                flash("Access policy saved." if changed else "Nothing to save: no field was changed.", "success")
            return redirect(url_for("sysconfig.policies"))
        except PolicyRuleError as error:
            db.session.rollback()
            form[error.field].errors.append(error.message)
    return render_template("sysconfig/policy_form.html", form=form, policy=policy)


@bp.route("/access-policies/new", methods=["GET", "POST"])
@require_manager
def new_policy():
    return _save(PolicyForm(), None)


@bp.route("/access-policies/<int:policy_id>", methods=["GET", "POST"])
@require_manager
def edit_policy(policy_id: int):
    policy = policy_or_404(policy_id)
    form = PolicyForm()
    if not form.is_submitted():
        form.load(policy)
    return _save(form, policy)


@bp.post("/access-policies/<int:policy_id>/delete")
@require_manager
def remove_policy(policy_id: int):
    policy = policy_or_404(policy_id)
    if DeletePolicyForm().validate_on_submit():
        try:
            delete_policy(policy, current_user)
            flash(f"Access policy {policy.name} deleted.", "success")
        except PolicyRuleError as error:
            db.session.rollback()
            flash(error.message, "danger")
    return redirect(url_for("sysconfig.policies"))
