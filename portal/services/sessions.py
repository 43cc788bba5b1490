"""Listing and ending an employee's sessions (Employee maintenance › Edit, My profile).

Pages never show a session's id, which is what the session cookie points at: they
show a handle derived from it with SECRET_KEY, and ending a session looks the
handle up among that employee's open sessions.
"""
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from portal.clock import utcnow
from portal.extensions import db
from portal.models import Employee, UserSession
from portal.security import session_policy
from portal.security.audit import record_event


def handle_of(record: UserSession) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"session-handle:" + record.id.encode(), hashlib.sha256).hexdigest()[:20]


@dataclass(frozen=True)
class SessionView:
    handle: str
    created_at: datetime
    last_seen_at: datetime
    client_address: str | None
    user_agent: str | None
    current: bool


def open_sessions(employee: Employee) -> list[UserSession]:
    """The employee's sessions that are still valid now, newest activity first."""
    now = utcnow()
    policy = session_policy.current()
    rows = db.session.scalars(
        db.select(UserSession)
        .where(UserSession.employee_id == employee.id, UserSession.ended_at.is_(None))
        .order_by(UserSession.last_seen_at.desc())
    )
    return [r for r in rows if policy.end_reason(r, now) is None]


def session_views(employee: Employee, current: UserSession | None = None) -> list[SessionView]:
    return [
        SessionView(handle_of(r), r.created_at, r.last_seen_at, r.client_address, r.user_agent,
                    current is not None and r.id == current.id)
        for r in open_sessions(employee)
    ]


def end_sessions(employee: Employee, actor: Employee, handle: str | None = None,
                 keep: UserSession | None = None) -> int:
    """End one session (by handle) or all of them except `keep`; audited. Returns how many ended."""
    now = utcnow()
    ended = 0
    for record in open_sessions(employee):
        chosen = handle is None or hmac.compare_digest(handle_of(record), handle)
        if chosen and (keep is None or record.id != keep.id):
            record.end("ended by administrator" if actor.id != employee.id else "ended by the employee", now)
            ended += 1
    if ended:
        record_event("session.ended", actor=actor, subject=employee,
                     details={"sessions": ended, "which": "one" if handle else "all"})
        db.session.commit()
    return ended
