"""API token primitives: making one, its stored digest, and revoking an employee's tokens.

Kept apart from the issuing service (portal/services/api_tokens.py) so that Reset MFA,
deactivation and password changes can revoke tokens without importing the API.
"""
import hashlib
import secrets
from datetime import datetime

from sqlalchemy import update

from portal.extensions import db
from portal.models import ApiToken, Employee
from portal.security.audit import record_event

TOKEN_PREFIX = "bo_"  # lets secret scanners recognise a leaked token  # noqa: S105


def new_api_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def api_token_digest(token: str) -> str:
    """256 random bits need no slow hash; the digest is also the lookup key (unique index)."""
    return hashlib.sha256(b"api-token:" + token.encode()).hexdigest()


def revoke_all_tokens(employee: Employee, reason: str, now: datetime, actor: Employee | None = None) -> int:
    """Revoke the employee's live tokens, audited as api.tokens_revoked when there were any;
    the caller commits. Returns how many."""
    result = db.session.execute(
        update(ApiToken).where(ApiToken.employee_id == employee.id, ApiToken.revoked_at.is_(None),
                               ApiToken.expires_at > now)
        .values(revoked_at=now, revoked_reason=reason[:64])
    )
    if result.rowcount:
        record_event("api.tokens_revoked", actor=actor, subject=employee,
                     details={"reason": reason, "count": result.rowcount})
    return result.rowcount
