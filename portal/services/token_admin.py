"""Administering API tokens: the external services that may ask for them (Sys Config › External
services) and revoking tokens from My profile and Employee maintenance › Edit.

The issuing side (POST /api/token, bearer authentication) is portal/services/api_tokens.py; the
list of services is its setting SERVICES ({name: enabled}) and what their tokens may call is
SERVICE_SCOPES ({name: [scope, ...]}), changed here through portal.settings so that every change
is audited as settings.changed.
"""
from sqlalchemy import update

from portal import settings
from portal.clock import utcnow
from portal.extensions import db
from portal.models import ApiToken, Employee
from portal.security.api_tokens import revoke_all_tokens
from portal.security.audit import record_event
from portal.services.api_tokens import MOBILE_APP, NEW_SERVICE_SCOPES, SERVICE_SCOPES, SERVICES, revoke_token
from portal.url_ids import MAX_ROW_ID

BY_EMPLOYEE = "revoked by the employee"
BY_ADMINISTRATOR = "revoked by an administrator"
SERVICE_REMOVED = "service removed"


class ServiceRuleError(ValueError):
    """A change to the list of services that the rules refuse."""


def services() -> dict[str, bool]:
    """The configured services, {name: enabled}, sorted by name (ignoring case)."""
    return dict(sorted(settings.get(SERVICES).items(), key=lambda item: item[0].lower()))


def configured_name(name: str) -> str | None:
    """The configured spelling of a service name (names ignore case), or None."""
    wanted = name.strip().lower()
    return next((n for n in settings.get(SERVICES) if n.lower() == wanted), None)


def add_service(name: str, actor: Employee) -> None:
    """Add an enabled service; audited as settings.changed."""
    if configured_name(name) is not None:
        raise ServiceRuleError(f"There is already a service named {configured_name(name)}.")
    settings.save({SERVICES: {**settings.get(SERVICES), name: True},
                   SERVICE_SCOPES: {**settings.get(SERVICE_SCOPES), name: list(NEW_SERVICE_SCOPES)}}, actor=actor)


def remove_service(name: str, actor: Employee) -> int:
    """Remove a service and revoke its live tokens, in one transaction; returns how many were revoked.

    Revoking them means a service added again later under the same name starts with no tokens.
    """
    name = configured_name(name) or ""
    if not name:
        raise ServiceRuleError("That service is not in the list (it may have been removed already).")
    if name == MOBILE_APP:
        raise ServiceRuleError(f"The mobile app ({MOBILE_APP}) cannot be removed; untick Enabled to switch it off.")
    now = utcnow()
    revoked = db.session.execute(
        update(ApiToken).where(ApiToken.service == name, ApiToken.revoked_at.is_(None), ApiToken.expires_at > now)
        .values(revoked_at=now, revoked_reason=SERVICE_REMOVED)).rowcount
    if revoked:
        record_event("api.tokens_revoked", actor=actor, details={"service": name, "count": revoked,
                                                                  "reason": SERVICE_REMOVED})
    remaining = {n: on for n, on in settings.get(SERVICES).items() if n != name}
    scopes = {n: granted for n, granted in settings.get(SERVICE_SCOPES).items() if n != name}
    settings.save({SERVICES: remaining, SERVICE_SCOPES: scopes}, actor=actor)  # commits the revocation too
    return revoked


def revoke_one(employee: Employee, token_id: int, actor: Employee, reason: str) -> bool:
    """Revoke one of the employee's live tokens; False when they have no such token."""
    if not 0 < token_id <= MAX_ROW_ID:
        return False
    return revoke_token(employee, token_id, actor, reason)


def revoke_all(employee: Employee, actor: Employee, reason: str = BY_ADMINISTRATOR) -> int:
    """Revoke every live token of the employee; audited as api.tokens_revoked. Returns how many."""
    revoked = revoke_all_tokens(employee, reason, utcnow(), actor=actor)
    if revoked:
        db.session.commit()
    return revoked
