"""The one helper through which every security event reaches the audit log.

It adds the row to the current transaction; the caller's service commits it
together with the change it describes, so the log never disagrees with the data.
"""
from typing import Any

from flask import has_request_context

from portal.extensions import db
from portal.models import AuditEvent
from portal.security.client import client_address, user_agent

# Event names shown in the audit log's filter, in the order a reader expects.
EVENT_LABELS = {
    "signin.succeeded": "Sign-in succeeded",
    "signin.failed": "Sign-in failed",
    "account.locked": "Account locked",
    "signout": "Signed out",
    "session.ended": "Session ended",
    "employee.created": "Employee created",
    "employee.changed": "Employee changed",
    "password.changed": "Password changed",
    "password.set_by_admin": "Password set by administrator",
    "settings.changed": "Settings changed",
    "setup.completed": "First administrator created",
    "account.unlocked": "Account unlocked",
    "mfa.signup": "MFA signup",
    "mfa.skipped": "MFA skipped (Optional mode)",
    "mfa.verify_failed": "MFA code refused",
    "mfa.locked": "MFA second step locked",
    "mfa.recovery_code_used": "Recovery code used",
    "mfa.reset": "MFA reset",
    "mfa.deactivated": "MFA switched off by the employee",
    "mfa.recovery_codes_regenerated": "Recovery codes regenerated",
    "mfa.code_sent": "MFA code sent",
    "mfa.code_not_sent": "MFA code could not be sent",
    "sms.gateway_changed": "SMS Gateway settings changed",
    "sms.test_sent": "Test SMS sent",
    "sms.failed": "SMS not sent",
    "policy.created": "Access policy created",
    "policy.changed": "Access policy changed",
    "policy.deleted": "Access policy deleted",
    "api.token_issued": "API token issued",
    "api.token_refused": "API token refused",
    "api.token_revoked": "API token revoked",
    "api.tokens_revoked": "API tokens revoked",
    "api.out_of_scope": "API call outside its service's scopes",
    "pos.terminal_created": "POS terminal created",
    "pos.terminal_changed": "POS terminal changed",
    "pos.terminal_linked": "POS terminal linked to a device",
    "pos.terminal_unlinked": "POS terminal unlinked",
    "pos.link_failed": "POS terminal link refused",
    "pos.legacy_url_used": "POS terminal chosen by URL (device security off)",
    "pos.signed_in": "Signed in at a POS terminal",
    "pos.signin_refused": "POS terminal sign-in refused",
    "pos.cache_sessions_overlap": "Two cache session IDs on one POS terminal",
}


def record_event(
    event: str,
    *,
    actor=None,
    subject=None,
    details: dict[str, Any] | None = None,
    address: str | None = None,
    agent: str | None = None,
) -> AuditEvent:
    if has_request_context():
        address = address or client_address()
        agent = agent or user_agent()
    row = AuditEvent(
        event=event,
        actor_id=getattr(actor, "id", None),
        subject_id=getattr(subject, "id", None),
        details=details or {},
        client_address=address,
        user_agent=agent,
    )
    db.session.add(row)
    return row
