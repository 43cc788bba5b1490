"""The pages around API tokens: Sys Config › MFA's "Enable MFA for the mobile app", Sys Config ›
External services, and the token lists with Revoke on My profile and Employee maintenance › Edit."""
import re
from datetime import timedelta

import pytest

from portal import settings
from portal.clock import utcnow
from portal.models import ApiToken, AuditEvent
from portal.services.api_tokens import (
    LIFETIME_DAYS,
    SCOPES,
    SERVICE_SCOPES,
    SERVICES,
    ApiRefusal,
    bearer_token,
    issue_token,
)
from tests.conftest import field_errors, log_in, post_form
from tests.integration.test_terminals import text

PASSWORD = "correct horse battery"
SERVICES_URL = "/sysconfig/external-services"
MFA_FORM = {"status": "off", "mode": "optional", "issuer": "Back Office", "digits": "6", "algorithm": "SHA1",
            "period": "30", "drift": "1", "failed_limit": "5", "lock_minutes": "15",
            "timeout_minutes": "120", "warning_minutes": "5", "timeout_applies": "mandatory"}


def events(db, name: str) -> list[AuditEvent]:
    return list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id)))


def token_for(username: str, service: str = "mobile_app") -> tuple[str, int]:
    issued = issue_token(username, PASSWORD, service, None, "127.0.0.1")
    return issued.token, issued.record.id


def is_ticked(response, field_id: str) -> bool:
    tag = re.search(rf'<input[^>]*id="{re.escape(field_id)}"[^>]*>', response.get_data(as_text=True)).group(0)
    return " checked" in tag


def revoke_urls(response) -> list[str]:
    return re.findall(r'action="([^"]*/tokens/\d+/revoke)"', response.get_data(as_text=True))


@pytest.fixture
def manager(make_employee):
    return make_employee(username="mona", status_level=5)


@pytest.fixture
def manager_client(client, manager):
    assert log_in(client, "mona").status_code == 302
    return client


# Sys Config › MFA


def test_enable_mfa_for_the_mobile_app_is_explained_saved_and_audited(manager_client, manager, db):
    page = manager_client.get("/sysconfig/mfa")
    assert not is_ticked(page, "mobile_app")
    assert ("Enable MFA for the mobile app Token logins from the mobile app and other external services "
            "(POST /api/token) then need a one-time password from employees who must use MFA (enrolled, or "
            "required by Mode or an Access policy); without one they get “Multi-factor authentication is "
            "required for this service”.") in text(page)
    assert post_form(manager_client, "/sysconfig/mfa", {**MFA_FORM, "mobile_app": "y"}).status_code == 302
    assert settings.get("mfa.mobile_app") is True
    assert is_ticked(manager_client.get("/sysconfig/mfa"), "mobile_app")
    [changed] = events(db, "settings.changed")
    assert changed.actor_id == manager.id and changed.details == {"mfa.mobile_app": {"old": False, "new": True}}

    post_form(manager_client, "/sysconfig/mfa", MFA_FORM)  # an unticked box is absent from the form
    assert settings.get("mfa.mobile_app") is False


# Sys Config › External services


def test_the_page_lists_the_mobile_app_and_explains_disabling(manager_client):
    home = manager_client.get("/").get_data(as_text=True)
    assert home.index("Sys Config › Access policies") < home.index(f'href="{SERVICES_URL}"')
    assert "Sys Config › POS" not in home  # administrators only
    page = manager_client.get(SERVICES_URL)
    assert page.status_code == 200 and is_ticked(page, "enabled-0")
    words = text(page)
    assert ("mobile_app Enabled (mobile_app) MFA status (mobile_app) Signup for MFA (mobile_app) Send and check "
            "codes (mobile_app) Enforcement lookups (administrators) (mobile_app) The mobile app: can be disabled, "
            "not removed") in words
    assert all(is_ticked(page, f"scope_{scope}-0") for scope in SCOPES)  # the mobile app may call everything
    assert ("Disabling a service refuses new tokens for it, and the tokens it already has stop working while "
            "it is disabled") in words
    assert 'name="service" value="mobile_app"' not in page.get_data(as_text=True)  # no Remove button
    assert re.search(r'id="lifetime_days"[^>]*value="30"', page.get_data(as_text=True))


def test_adding_a_service_saves_audits_and_enables_it(manager_client, manager, db, make_employee):
    response = post_form(manager_client, f"{SERVICES_URL}/add", {"name": " stock.scanner-2 "}, form_url=SERVICES_URL)
    assert response.headers["Location"] == SERVICES_URL
    page = manager_client.get(SERVICES_URL)
    assert "Service stock.scanner-2 added and enabled." in text(page)
    assert settings.get(SERVICES) == {"mobile_app": True, "stock.scanner-2": True}
    [changed] = events(db, "settings.changed")
    assert changed.actor_id == manager.id
    assert changed.details == {SERVICES: {"old": {"mobile_app": True},
                                          "new": {"mobile_app": True, "stock.scanner-2": True}},
                               SERVICE_SCOPES: {"old": {}, "new": {"stock.scanner-2": ["status", "verify"]}}}
    # a new service starts with the least: MFA status and codes, not signup or enforcement lookups
    assert [is_ticked(page, f"scope_{scope}-1") for scope in SCOPES] == [True, False, True, False]
    assert 'name="service" value="stock.scanner-2"' in page.get_data(as_text=True)  # its Remove button
    make_employee(username="ann")
    assert issue_token("ann", PASSWORD, "STOCK.SCANNER-2", None, "127.0.0.1").record.service == "stock.scanner-2"


@pytest.mark.parametrize("name, error", [
    ("", "This field is required."),
    ("x", "Field must be between 2 and 64 characters long."),
    ("x" * 65, "Field must be between 2 and 64 characters long."),
    ("stock scanner", "Use letters, digits, _ - and . only (no spaces)."),
    ("scanner/1", "Use letters, digits, _ - and . only (no spaces)."),
    ("Mobile_App", "There is already a service named mobile_app."),
])
def test_a_bad_name_is_refused_next_to_the_field(manager_client, db, name, error):
    response = post_form(manager_client, f"{SERVICES_URL}/add", {"name": name}, form_url=SERVICES_URL)
    assert response.status_code == 400
    assert field_errors(response, "name") == error
    assert settings.get(SERVICES) == {"mobile_app": True}
    assert events(db, "settings.changed") == []


def test_a_name_is_unique_ignoring_case(manager_client):
    post_form(manager_client, f"{SERVICES_URL}/add", {"name": "Kiosk"}, form_url=SERVICES_URL)
    again = post_form(manager_client, f"{SERVICES_URL}/add", {"name": "KIOSK"}, form_url=SERVICES_URL)
    assert field_errors(again, "name") == "There is already a service named Kiosk."
    assert settings.get(SERVICES) == {"mobile_app": True, "Kiosk": True}


def test_disabling_a_service_refuses_new_tokens(manager_client, make_employee):
    settings.save({SERVICES: {"mobile_app": True, "kiosk": True}})
    make_employee(username="ann")
    page = manager_client.get(SERVICES_URL)
    assert is_ticked(page, "enabled-0") and is_ticked(page, "enabled-1")  # kiosk, mobile_app
    form = {"listed": "kiosk,mobile_app", "enabled": ["kiosk"], "lifetime_days": "30"}
    assert post_form(manager_client, SERVICES_URL, form).headers["Location"] == SERVICES_URL
    assert settings.get(SERVICES) == {"kiosk": True, "mobile_app": False}
    after = manager_client.get(SERVICES_URL)
    assert "External services saved." in text(after) and not is_ticked(after, "enabled-1")
    with pytest.raises(ApiRefusal) as refused:
        token_for("ann")
    assert refused.value.errorcode == "servicenotavailable"
    assert token_for("ann", "kiosk")[0]

    post_form(manager_client, SERVICES_URL, {**form, "enabled": ["kiosk", "mobile_app"]})
    assert settings.get(SERVICES) == {"kiosk": True, "mobile_app": True}


def test_a_disabled_service_s_tokens_stop_working_until_it_is_enabled_again(make_employee):
    make_employee(username="ann")
    token, _ = token_for("ann")
    settings.save({SERVICES: {"mobile_app": False}})
    assert bearer_token(token) is None
    settings.save({SERVICES: {"mobile_app": True}})
    assert bearer_token(token) is not None


def test_a_service_added_while_the_page_was_open_keeps_its_state(manager_client):
    manager_client.get(SERVICES_URL)
    settings.save({SERVICES: {"mobile_app": True, "kiosk": True}})  # another manager, meanwhile
    post_form(manager_client, SERVICES_URL, {"listed": "mobile_app", "enabled": ["mobile_app"],
                                             "lifetime_days": "30"})
    assert settings.get(SERVICES) == {"mobile_app": True, "kiosk": True}


@pytest.mark.parametrize("days, saved", [("0", False), ("366", False), ("", False), ("1", True), ("365", True)])
def test_the_token_lifetime_is_one_to_365_days(manager_client, make_employee, db, days, saved):
    response = post_form(manager_client, SERVICES_URL, {"listed": "mobile_app", "enabled": ["mobile_app"],
                                                        "lifetime_days": days})
    if not saved:
        assert response.status_code == 200
        assert field_errors(response, "lifetime_days") in ("Number must be between 1 and 365.",
                                                           "This field is required.")
        assert settings.get(LIFETIME_DAYS) == 30
        return
    assert response.status_code == 302 and settings.get(LIFETIME_DAYS) == int(days)
    make_employee(username="ann")
    _, token_id = token_for("ann")
    record = db.session.get(ApiToken, token_id)
    assert record.expires_at - record.created_at == timedelta(days=int(days))


def test_removing_a_service_revokes_its_tokens(manager_client, manager, db, make_employee):
    settings.save({SERVICES: {"mobile_app": True, "kiosk": True}})
    make_employee(username="ann")
    kiosk_token, _ = token_for("ann", "kiosk")
    app_token, _ = token_for("ann")
    response = post_form(manager_client, f"{SERVICES_URL}/remove", {"service": "kiosk"}, form_url=SERVICES_URL)
    assert response.headers["Location"] == SERVICES_URL
    assert "Service kiosk removed; 1 of its tokens revoked." in text(manager_client.get(SERVICES_URL))
    assert settings.get(SERVICES) == {"mobile_app": True}
    assert bearer_token(kiosk_token) is None and bearer_token(app_token) is not None
    [revoked] = events(db, "api.tokens_revoked")
    assert revoked.actor_id == manager.id
    assert revoked.details == {"service": "kiosk", "count": 1, "reason": "service removed"}
    assert events(db, "settings.changed")[-1].details[SERVICES]["new"] == {"mobile_app": True}


def test_the_mobile_app_cannot_be_removed(manager_client, db):
    post_form(manager_client, f"{SERVICES_URL}/remove", {"service": "mobile_app"}, form_url=SERVICES_URL)
    assert ("The mobile app (mobile_app) cannot be removed; untick Enabled to switch it off."
            in text(manager_client.get(SERVICES_URL)))
    post_form(manager_client, f"{SERVICES_URL}/remove", {"service": "nothing"}, form_url=SERVICES_URL)
    assert "That service is not in the list" in text(manager_client.get(SERVICES_URL))
    assert settings.get(SERVICES) == {"mobile_app": True}
    assert events(db, "settings.changed") == []


# My profile › API tokens


def test_the_profile_lists_own_tokens_and_revokes_one(client, make_employee, db):
    ann = make_employee(username="ann")
    make_employee(username="bob")
    log_in(client, "ann")
    assert "API tokens" in text(client.get("/account/")) and "No API tokens." in text(client.get("/account/"))
    first, first_id = token_for("ann")
    second, second_id = token_for("ann")
    token_for("bob")
    page = client.get("/account/")
    words = text(page)
    assert "never shown again" in words
    assert words.count("Revoke the mobile_app token created") == 2
    assert re.search(r"mobile_app \d{4}-\d\d-\d\d \d\d:\d\d \d{4}-\d\d-\d\d \d\d:\d\d never 127\.0\.0\.1", words)
    assert revoke_urls(page) == [f"/account/tokens/{second_id}/revoke", f"/account/tokens/{first_id}/revoke"]
    assert "Revoke all" not in words

    response = post_form(client, f"/account/tokens/{first_id}/revoke", {}, form_url="/account/")
    assert response.headers["Location"] == "/account/#api-tokens"
    after = client.get("/account/")
    assert "API token revoked." in text(after)
    assert revoke_urls(after) == [f"/account/tokens/{second_id}/revoke"]
    assert bearer_token(first) is None and bearer_token(second) is not None
    [event] = events(db, "api.token_revoked")
    assert (event.actor_id, event.subject_id) == (ann.id, ann.id)
    assert event.details == {"token_id": first_id, "reason": "revoked by the employee"}
    assert db.session.get(ApiToken, first_id).revoked_reason == "revoked by the employee"


def test_an_employee_cannot_revoke_someone_else_s_token(client, make_employee, db):
    make_employee(username="ann")
    make_employee(username="bob")
    bob_token, bob_token_id = token_for("bob")
    log_in(client, "ann")
    for token_id in (bob_token_id, 2**31, 2**70):
        response = post_form(client, f"/account/tokens/{token_id}/revoke", {}, form_url="/account/")
        assert response.status_code == 302
    assert "That token had already been revoked or has expired." in text(client.get("/account/"))
    assert bearer_token(bob_token) is not None
    assert events(db, "api.token_revoked") == []


def test_expired_and_revoked_tokens_are_not_listed(client, make_employee, db):
    make_employee(username="ann")
    _, old_id = token_for("ann")
    db.session.get(ApiToken, old_id).expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    log_in(client, "ann")
    assert revoke_urls(client.get("/account/")) == []
    assert "No API tokens." in text(client.get("/account/"))


# Employee maintenance › Edit


def test_an_administrator_lists_revokes_one_and_revokes_all(admin_client, admin, make_employee, db):
    ann = make_employee(username="ann")
    edit = f"/employees/{ann.id}"
    assert "No API tokens." in text(admin_client.get(edit))
    first, first_id = token_for("ann")
    page = admin_client.get(edit)
    assert revoke_urls(page) == [f"{edit}/tokens/{first_id}/revoke"] and "Revoke all" not in text(page)
    second, second_id = token_for("ann")
    third, _ = token_for("ann")
    page = admin_client.get(edit)
    assert len(revoke_urls(page)) == 3 and "Revoke all" in text(page)

    response = post_form(admin_client, f"{edit}/tokens/{second_id}/revoke", {}, form_url=edit)
    assert response.headers["Location"] == f"{edit}#api-tokens"
    assert "API token of ann revoked." in text(admin_client.get(edit))
    assert bearer_token(second) is None and bearer_token(first) is not None
    [one] = events(db, "api.token_revoked")
    assert (one.actor_id, one.subject_id) == (admin.id, ann.id)
    assert one.details == {"token_id": second_id, "reason": "revoked by an administrator"}

    post_form(admin_client, f"{edit}/tokens/revoke-all", {}, form_url=edit)
    after = admin_client.get(edit)
    assert "2 API tokens of ann revoked." in text(after) and "No API tokens." in text(after)
    assert bearer_token(first) is None and bearer_token(third) is None
    [all_] = events(db, "api.tokens_revoked")
    assert (all_.actor_id, all_.subject_id) == (admin.id, ann.id)
    assert all_.details == {"reason": "revoked by an administrator", "count": 2}

    post_form(admin_client, f"{edit}/tokens/revoke-all", {}, form_url=edit)
    assert "ann had no API tokens." in text(admin_client.get(edit))
    assert len(events(db, "api.tokens_revoked")) == 1


def test_a_token_of_another_employee_is_not_revoked_through_this_one(admin_client, make_employee):
    ann = make_employee(username="ann")
    make_employee(username="bob")
    bob_token, bob_token_id = token_for("bob")
    edit = f"/employees/{ann.id}"
    post_form(admin_client, f"{edit}/tokens/{bob_token_id}/revoke", {}, form_url=edit)
    assert "That token had already been revoked or has expired." in text(admin_client.get(edit))
    assert bearer_token(bob_token) is not None
    assert post_form(admin_client, f"/employees/{2**31}/tokens/revoke-all", {}, form_url=edit).status_code == 404


def test_staff_and_managers_are_refused(client, make_employee):
    make_employee(username="cashier", status_level=4)
    make_employee(username="mona", status_level=5)
    ann = make_employee(username="ann")
    token, token_id = token_for("ann")
    log_in(client, "cashier")
    assert client.get(SERVICES_URL).status_code == 403
    for url in (SERVICES_URL, f"{SERVICES_URL}/add", f"{SERVICES_URL}/remove",
                f"/employees/{ann.id}/tokens/{token_id}/revoke", f"/employees/{ann.id}/tokens/revoke-all"):
        assert post_form(client, url, {"service": "mobile_app", "name": "kiosk"}, form_url="/").status_code == 403
    post_form(client, "/logout", {}, form_url="/")
    log_in(client, "mona")
    for url in (f"/employees/{ann.id}/tokens/{token_id}/revoke", f"/employees/{ann.id}/tokens/revoke-all"):
        assert post_form(client, url, {}, form_url="/").status_code == 403
    assert bearer_token(token) is not None
    assert settings.get(SERVICES) == {"mobile_app": True}


def test_posts_without_the_csrf_token_are_refused(admin_client, admin, make_employee):
    ann = make_employee(username="ann")
    own, own_id = token_for("admin")
    theirs, theirs_id = token_for("ann")
    for url, data in ((f"/account/tokens/{own_id}/revoke", {}),
                      (f"/employees/{ann.id}/tokens/{theirs_id}/revoke", {}),
                      (f"/employees/{ann.id}/tokens/revoke-all", {}),
                      (f"{SERVICES_URL}/add", {"name": "kiosk"}),
                      (f"{SERVICES_URL}/remove", {"service": "mobile_app"}),
                      (SERVICES_URL, {"listed": "mobile_app", "lifetime_days": "5"})):
        assert admin_client.post(url, data=data).status_code == 400, url
    assert bearer_token(own) is not None and bearer_token(theirs) is not None
    assert settings.get(SERVICES) == {"mobile_app": True} and settings.get(LIFETIME_DAYS) == 30


def test_what_a_services_tokens_may_call_is_saved_audited_and_enforced(manager_client, manager, db, make_employee):
    settings.save({SERVICES: {"mobile_app": True, "kiosk": True}})
    make_employee(username="ann")
    app_token, kiosk_token = token_for("ann")[0], token_for("ann", "kiosk")[0]
    form = {"listed": "kiosk,mobile_app", "enabled": ["kiosk", "mobile_app"], "lifetime_days": "30",
            "scope_status": ["kiosk", "mobile_app"], "scope_verify": ["mobile_app"],
            "scope_signup": ["mobile_app"], "scope_enforcement": ["mobile_app"]}
    assert post_form(manager_client, SERVICES_URL, form).status_code == 302
    assert settings.get(SERVICE_SCOPES) == {"kiosk": ["status"], "mobile_app": list(SCOPES)}
    changed = events(db, "settings.changed")[-1]
    assert changed.actor_id == manager.id and changed.details[SERVICE_SCOPES]["new"]["kiosk"] == ["status"]

    kiosk, app = {"Authorization": f"Bearer {kiosk_token}"}, {"Authorization": f"Bearer {app_token}"}
    assert manager_client.get("/api/mfa/status", headers=kiosk).status_code == 200
    refused = manager_client.post("/api/mfa/verify", headers=kiosk, json={"code": "123456"})
    assert refused.status_code == 403 and refused.json["errorcode"] == "outofscope"
    assert "kiosk" in refused.json["error"]
    [event] = events(db, "api.out_of_scope")
    assert event.details["service"] == "kiosk" and event.details["operation"] == "/api/mfa/verify"
    assert manager_client.post("/api/mfa/verify", headers=app, json={"code": "123456"}).json["errorcode"] != \
        "outofscope"

    form["scope_status"] = ["kiosk"]  # the mobile app's status calls stop at once
    post_form(manager_client, SERVICES_URL, form)
    assert manager_client.get("/api/mfa/status", headers=app).json["errorcode"] == "outofscope"
    # the signed-in browser is no service: scopes do not apply to it
    assert manager_client.get("/api/mfa/status").status_code == 200


def test_removing_a_service_forgets_its_scopes(manager_client):
    post_form(manager_client, f"{SERVICES_URL}/add", {"name": "kiosk"}, form_url=SERVICES_URL)
    assert settings.get(SERVICE_SCOPES) == {"kiosk": ["status", "verify"]}
    post_form(manager_client, f"{SERVICES_URL}/remove", {"service": "kiosk"}, form_url=SERVICES_URL)
    assert settings.get(SERVICE_SCOPES) == {}
