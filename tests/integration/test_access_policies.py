"""Sys Config › Access policies: the pages, assignment on Employee maintenance › Edit, and the effect
on sign-in (a policy can require MFA in Optional mode, and narrows the methods its members may use)."""
import re

import pytest

from portal import settings
from portal.extensions import db as _db
from portal.mfa import service as mfa
from portal.mfa.methods import active_credentials, enrollable_methods
from portal.models import AccessPolicy, AuditEvent
from tests.conftest import field_errors, log_in, post_form

CODE_RE = re.compile(r"Your Back Office code is (\d+)\.")


def events(db, name: str) -> list[AuditEvent]:
    return list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.event == name)))


def make_policy(name="Kitchen", methods="totp", mfa_required=False, description="") -> AccessPolicy:
    policy = AccessPolicy(name=name, methods=methods, mfa_required=mfa_required, description=description)
    _db.session.add(policy)
    _db.session.commit()
    return policy


def policy_form(**overrides) -> dict:
    data = {"name": "Kitchen", "description": "Cooks and porters", "methods": ["totp", "email"],
            "mfa_required": "y"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def manager_client(client, make_employee):
    make_employee(username="mona", status_level=5)
    assert log_in(client, "mona").status_code == 302
    return client


# --- Sys Config › Access policies ---------------------------------------------

def test_manager_creates_a_policy_and_it_is_audited(manager_client, db):
    response = post_form(manager_client, "/sysconfig/access-policies/new", policy_form())
    assert response.headers["Location"] == "/sysconfig/access-policies"
    page = manager_client.get("/sysconfig/access-policies").get_data(as_text=True)
    assert "Access policy Kitchen created." in page
    assert "Kitchen" in page and "App OTP (authenticator app), Email OTP" in page and "Required" in page
    [policy] = db.session.scalars(db.select(AccessPolicy))
    assert (policy.name, policy.description, policy.method_names, policy.mfa_required) == (
        "Kitchen", "Cooks and porters", {"totp", "email"}, True)
    [created] = events(db, "policy.created")
    assert created.actor_id is not None
    assert created.details == {"policy_id": policy.id, "name": "Kitchen", "description": "Cooks and porters",
                               "methods": "totp,email", "mfa_required": True}


def test_menu_links_to_access_policies_for_managers(manager_client):
    assert 'href="/sysconfig/access-policies"' in manager_client.get("/").get_data(as_text=True)


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"name": "  "}, "name", "This field is required."),
    ({"methods": None}, "methods", "Choose at least one method."),
    ({"methods": ["webauthn"]}, "methods", "not a valid choice"),
    ({"name": "x" * 65}, "name", "64"),
])
def test_invalid_policy_is_refused_with_a_field_error(manager_client, db, overrides, field, message):
    response = post_form(manager_client, "/sysconfig/access-policies/new", policy_form(**overrides))
    assert response.status_code == 200
    assert message.lower() in field_errors(response, field).lower()
    assert db.session.scalars(db.select(AccessPolicy)).all() == []
    assert events(db, "policy.created") == []


def test_name_is_unique_ignoring_case(manager_client, db):
    make_policy("Kitchen")
    response = post_form(manager_client, "/sysconfig/access-policies/new", policy_form(name="KITCHEN"))
    assert field_errors(response, "name") == "An access policy with this name already exists."
    assert len(db.session.scalars(db.select(AccessPolicy)).all()) == 1


def test_edit_saves_and_audits_old_and_new(manager_client, db):
    policy = make_policy("Kitchen", methods="totp")
    url = f"/sysconfig/access-policies/{policy.id}"
    page = manager_client.get(url).get_data(as_text=True)
    assert 'value="Kitchen"' in page and re.search(r'<input[^>]*checked[^>]*value="totp"|value="totp"[^>]*checked',
                                                   page)
    response = post_form(manager_client, url, policy_form(name="Kitchen staff", description="", methods=["email"]))
    assert response.status_code == 302
    db.session.refresh(policy)
    assert (policy.name, policy.method_names, policy.mfa_required) == ("Kitchen staff", {"email"}, True)
    [changed] = events(db, "policy.changed")
    assert changed.details == {
        "policy_id": policy.id, "name": {"old": "Kitchen", "new": "Kitchen staff"},
        "methods": {"old": "totp", "new": "email"}, "mfa_required": {"old": False, "new": True},
    }
    # unchanged: nothing saved, nothing audited
    again = post_form(manager_client, url, policy_form(name="Kitchen staff", description="", methods=["email"]),
                      follow_redirects=True)
    assert "Nothing to save" in again.get_data(as_text=True)
    assert len(events(db, "policy.changed")) == 1


def test_renaming_to_another_policys_name_is_refused(manager_client, db):
    make_policy("Kitchen")
    bar = make_policy("Bar")
    response = post_form(manager_client, f"/sysconfig/access-policies/{bar.id}", policy_form(name="kitchen"))
    assert field_errors(response, "name") == "An access policy with this name already exists."
    db.session.refresh(bar)
    assert bar.name == "Bar"


def test_unknown_policy_is_404(manager_client):
    assert manager_client.get("/sysconfig/access-policies/999").status_code == 404
    assert manager_client.get(f"/sysconfig/access-policies/{2**40}").status_code == 404


def test_delete_is_refused_while_employees_use_the_policy(manager_client, make_employee, db):
    policy = make_policy("Kitchen")
    make_employee(username="cook", access_policy_id=policy.id)
    url = f"/sysconfig/access-policies/{policy.id}/delete"
    response = post_form(manager_client, url, {}, form_url="/sysconfig/access-policies", follow_redirects=True)
    assert ("The access policy Kitchen cannot be deleted: 1 employee uses it."
            in response.get_data(as_text=True))
    assert db.session.get(AccessPolicy, policy.id) is not None
    assert events(db, "policy.deleted") == []


def test_delete_an_unused_policy_is_audited(manager_client, db):
    policy = make_policy("Kitchen", methods="email", mfa_required=True)
    policy_id = policy.id
    response = post_form(manager_client, f"/sysconfig/access-policies/{policy_id}/delete", {},
                         form_url="/sysconfig/access-policies", follow_redirects=True)
    assert "Access policy Kitchen deleted." in response.get_data(as_text=True)
    assert db.session.get(AccessPolicy, policy_id) is None
    [deleted] = events(db, "policy.deleted")
    assert deleted.details == {"policy_id": policy_id, "name": "Kitchen", "description": "", "methods": "email",
                               "mfa_required": True}


def test_delete_needs_the_csrf_token(manager_client, db):
    policy = make_policy("Kitchen")
    response = manager_client.post(f"/sysconfig/access-policies/{policy.id}/delete")
    assert response.status_code == 400
    assert db.session.get(AccessPolicy, policy.id) is not None


def test_staff_are_refused(client, make_employee, db):
    policy = make_policy("Kitchen")
    make_employee(username="sam", status_level=4)
    log_in(client, "sam")
    for url in ("/sysconfig/access-policies", "/sysconfig/access-policies/new",
                f"/sysconfig/access-policies/{policy.id}"):
        assert client.get(url).status_code == 403, url
    response = post_form(client, f"/sysconfig/access-policies/{policy.id}/delete", {}, form_url="/")
    assert response.status_code == 403
    assert db.session.get(AccessPolicy, policy.id) is not None


# --- Employee maintenance › Edit -------------------------------------------------

def edit_form(employee, **overrides) -> dict:
    data = {"username": employee.username, "full_name": employee.full_name, "email": employee.email or "",
            "mobile_phone": "", "status_level": str(employee.status_level), "active": "y"}
    return data | overrides


def test_administrator_assigns_a_policy_and_it_is_audited(admin_client, make_employee, db, admin):
    policy = make_policy("Kitchen")
    cook = make_employee(username="cook")
    page = admin_client.get(f"/employees/{cook.id}").get_data(as_text=True)
    assert '<label class="form-label" for="access_policy_id">Access policy</label>' in page
    assert '<option selected value="">System settings</option>' in page
    response = post_form(admin_client, f"/employees/{cook.id}", edit_form(cook, access_policy_id=str(policy.id)))
    assert response.status_code == 302
    db.session.refresh(cook)
    assert cook.access_policy_id == policy.id
    [changed] = events(db, "employee.changed")
    assert (changed.actor_id, changed.details) == (admin.id, {"access_policy_id": {"old": None, "new": policy.id}})

    response = post_form(admin_client, f"/employees/{cook.id}", edit_form(cook, access_policy_id=""))
    db.session.refresh(cook)
    assert cook.access_policy_id is None


def test_an_unknown_policy_cannot_be_assigned(admin_client, make_employee, db):
    cook = make_employee(username="cook")
    response = post_form(admin_client, f"/employees/{cook.id}", edit_form(cook, access_policy_id="999"))
    assert response.status_code == 200 and field_errors(response, "access_policy_id") == "Not a valid choice."
    db.session.refresh(cook)
    assert cook.access_policy_id is None


def test_managers_cannot_assign_a_policy(manager_client, make_employee, db):
    policy = make_policy("Kitchen")
    cook = make_employee(username="cook")
    response = post_form(manager_client, f"/employees/{cook.id}", edit_form(cook, access_policy_id=str(policy.id)),
                         form_url="/")
    assert response.status_code == 403
    db.session.refresh(cook)
    assert cook.access_policy_id is None


# --- the effect on MFA ---------------------------------------------------------------

def test_optional_system_with_a_required_policy_forces_its_members_to_sign_up(client, app, make_employee, db):
    settings.save({"mfa.status": True, "mfa.mode": "optional"})
    policy = make_policy("Tills", methods="totp", mfa_required=True)
    make_employee(username="member", access_policy_id=policy.id)
    make_employee(username="other")

    log_in(client, "member")
    page = client.get("/login/verify").get_data(as_text=True)
    assert ">Skip</button>" not in page and ">Signup for MFA</button>" in page
    assert post_form(client, "/login/skip", {}, form_url="/login/verify").status_code == 403
    assert client.get("/").status_code == 302  # still pending: nothing opens before the second step

    other = app.test_client()
    log_in(other, "other")
    page = other.get("/login/verify").get_data(as_text=True)
    assert ">Skip</button>" in page and ">Signup for MFA</button>" in page


def test_mfa_status_off_means_policies_have_no_effect(client, make_employee, db):
    policy = make_policy("Tills", methods="totp", mfa_required=True)
    member = make_employee(username="member", access_policy_id=policy.id)
    assert log_in(client, "member").headers["Location"] == "/"
    status = mfa.status(member)
    assert not status.enabled and not status.must_sign_up and not status.may_skip


def test_a_policy_allowing_only_email_hides_the_app_option(client, make_employee, smtp_server, db):
    settings.save({"mfa.status": True, "mfa.mode": "optional", "mfa.methods.email": True})
    policy = make_policy("Email only", methods="email")
    member = make_employee(username="member", email="member@example.com", access_policy_id=policy.id)
    outsider = make_employee(username="outsider", email="outsider@example.com")
    assert [m.name for m in enrollable_methods(outsider)] == ["totp", "email"]
    assert [m.name for m in enrollable_methods(member)] == ["email"]

    log_in(client, "member")
    page = client.get("/login/verify").get_data(as_text=True)
    assert "Authenticator app" not in page and '<input type="hidden" name="method" value="email">' in page
    refused = post_form(client, "/login/signup", {"method": "totp"}, form_url="/login/verify")
    assert refused.status_code == 400 and "<dialog" not in refused.get_data(as_text=True)
    assert active_credentials(member.id) == []

    page = post_form(client, "/login/signup", {"method": "email"}, form_url="/login/verify").get_data(as_text=True)
    assert "We sent a code to your email address" in page
    code = CODE_RE.search(smtp_server[-1].get_content()).group(1)
    post_form(client, "/login/signup/activate", {"code": code}, form_url="/login/verify")
    finished = post_form(client, "/login/signup/finish", {"saved": "y"}, form_url="/login/verify")
    assert finished.headers["Location"] == "/"
    assert [c.provider for c in active_credentials(member.id)] == ["email"]


def test_policy_methods_are_intersected_with_the_system_methods(make_employee, db):
    settings.save({"mfa.status": True, "mfa.methods.email": False})
    policy = make_policy("Both", methods="totp,email")
    member = make_employee(username="member", access_policy_id=policy.id)
    assert [m.name for m in enrollable_methods(member)] == ["totp"]


def test_an_app_enrolment_outside_the_policy_leaves_only_recovery_codes(client, make_employee, db):
    from portal.mfa.providers import recovery_codes, totp

    settings.save({"mfa.status": True, "mfa.methods.email": True})
    member = make_employee(username="member")
    credential = totp.prepare(member.id, mfa.mfa_settings.current().totp, member.username, "Back Office").credential
    credential.status = "active"
    recovery_codes.generate(member.id)
    db.session.commit()
    assert {m.name for m in mfa.methods_for(member)} == {"totp", "recovery"}
    member.access_policy_id = make_policy("Email only", methods="email").id
    db.session.commit()
    assert [m.name for m in mfa.methods_for(member)] == ["recovery"]
