"""Server-side session records and the guard every authenticated request passes.

The Flask session (a signed cookie) holds only the employee's rotating
session token (Flask-Login) and the id of a `UserSession` row. The row is the
source of truth: ended or too old means signed out, whatever the cookie says.
"""
from datetime import datetime, timedelta
from functools import cache

from flask import flash, g, jsonify, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import bindparam

from portal import settings
from portal.clock import utcnow
from portal.extensions import db
from portal.models import Employee, UserSession
from portal.security import session_policy
from portal.security.api_tokens import revoke_all_tokens
from portal.security.audit import record_event
from portal.security.client import client_address, user_agent
from portal.security.device_tokens import POS_BLUEPRINT
from portal.security.signin import register_success
from portal.security.urls import safe_next

# Last-seen is written at most this often per session (DESIGN.md §7).
ACTIVITY_WRITE_INTERVAL = timedelta(minutes=1)
SESSION_ID_KEY = "sid"


def begin_session(employee: Employee) -> UserSession:
    """Sign the employee in with a fresh session: old cookie content and id are discarded.

    Commits the caller's open work too (the second step's used code), so the code is
    spent and the session exists in one transaction.
    """
    session.clear()
    record = UserSession(employee_id=employee.id, client_address=client_address(), user_agent=user_agent())
    db.session.add(record)
    register_success(employee)
    record_event("signin.succeeded", actor=employee, subject=employee)
    db.session.flush()
    login_user(employee)
    session[SESSION_ID_KEY] = record.id
    session.permanent = True
    db.session.commit()
    return record


@cache
def _signed_in_query():
    """Built once: building this statement and its cache key anew took about 0.1 ms a request."""
    return (db.select(Employee, UserSession, settings.version_column())
            .where(Employee.session_token == bindparam("session_token"), Employee.active.is_(True))
            .outerjoin(UserSession, (UserSession.id == bindparam("sid"))
                       & (UserSession.employee_id == Employee.id)))


def load_signed_in(session_token: str) -> Employee | None:
    """Flask-Login's user loader: the active employee with this session token and, in the same
    query, this browser's session row (kept on g for the guard) and the settings version (see
    portal.settings): one round trip where there were three."""
    row = db.session.execute(_signed_in_query(), {"session_token": session_token,
                                                  "sid": session.get(SESSION_ID_KEY) or ""}).first()
    if row is None:
        return None
    employee, record, version = row
    settings.note_version(version)
    if record is not None:
        g.session_record = record  # held here, or the identity map could let it go and query again
    return employee


def current_session_record() -> UserSession | None:
    """This browser's session row, loaded once per request (the guard loads it first)."""
    sid = session.get(SESSION_ID_KEY)
    if not sid:
        return None
    if g.get("session_record") is None or g.session_record.id != sid:
        g.session_record = db.session.get(UserSession, sid)
    return g.session_record


def end_current_session(reason: str) -> None:
    record = current_session_record()
    employee = current_user if current_user.is_authenticated else None
    if record is not None and not record.is_ended:
        record.end(reason, utcnow())
        record_event("signout" if reason == "signed out" else "session.ended",
                     actor=employee, subject=employee, details={"reason": reason})
        db.session.commit()
    sign_out_browser()


def sign_out_browser() -> None:
    """Forget who is signed in, but keep this browser's CSRF secret.

    Every tab lands on the login page at about the same time after a sign-out or an
    expiry; sharing one CSRF secret, none of them invalidates the others' login form.
    (The secret is replaced at sign-in, when the session is cleared.)
    """
    csrf_secret = session.get("csrf_token")
    logout_user()
    session.clear()
    if csrf_secret:
        session["csrf_token"] = csrf_secret


def end_all_sessions(employee: Employee, reason: str, keep: UserSession | None = None) -> int:
    """End the employee's open sessions except `keep`; the caller commits. Returns how many."""
    now = utcnow()
    query = db.select(UserSession).where(
        UserSession.employee_id == employee.id, UserSession.ended_at.is_(None)
    )
    ended = 0
    for record in db.session.scalars(query):
        if keep is None or record.id != keep.id:
            record.end(reason, now)
            ended += 1
    return ended


def end_all_access(employee: Employee, reason: str, keep: UserSession | None = None) -> None:
    """What a password change, deactivation, lock or Reset MFA does: a new session token, every
    session ended (except `keep`) and every API token revoked. The caller commits."""
    employee.rotate_session_token()
    end_all_sessions(employee, reason, keep=keep)
    revoke_all_tokens(employee, reason, utcnow())


EXPIRED_MESSAGE = "Your session expired due to inactivity."
ENDED_MESSAGE = "Your session has ended. Please log in again."
# Requests that are not activity: the session-timeout popup's own status checks.
NOT_ACTIVITY = frozenset({"auth.session_status"})


# Calls made by scripts and other programs, answered in JSON (errors too, with an errorcode).
JSON_PATH_PREFIXES = ("/api/", "/session/", "/pos/api/")


def wants_json() -> bool:
    return request.path.startswith(JSON_PATH_PREFIXES)


def record_activity(record: UserSession, now: datetime, force: bool = False) -> None:
    """Move last activity to now, writing at most once per ACTIVITY_WRITE_INTERVAL unless forced."""
    if force or now - record.last_seen_at >= ACTIVITY_WRITE_INTERVAL:
        record.last_seen_at = now
        db.session.commit()


def guard_request():
    """before_request: refuse a signed-in request whose server-side session is over; note activity."""
    if request.endpoint in (None, "static", "bootstrap.static") or not current_user.is_authenticated:
        return None
    if request.blueprint == POS_BLUEPRINT:
        return None  # the Web POS uses no back-office sign-in, so it neither ends nor extends one
    record = current_session_record()
    now = utcnow()
    if record is None or record.employee_id != current_user.id:
        reason = session_policy.ENDED
    elif record.is_ended and record.end_reason == session_policy.INACTIVITY:
        reason = session_policy.INACTIVITY  # ended a moment ago by another tab's request
    else:
        reason = session_policy.current().end_reason(record, now)
    if reason is None:
        if request.endpoint not in NOT_ACTIVITY:
            record_activity(record, now)
        return None
    return _refuse(record, reason, now)


def _refuse(record: UserSession | None, reason: str, now: datetime):
    if record is not None and not record.is_ended and record.employee_id == current_user.id:
        record.end(reason, now)
        record_event("session.ended", actor=None, subject=current_user, details={"reason": reason})
        db.session.commit()
    sign_out_browser()
    message = EXPIRED_MESSAGE if reason == session_policy.INACTIVITY else ENDED_MESSAGE
    if wants_json():
        return jsonify(error=message, errorcode="sessionexpired", reason=reason), 401
    flash(message, "warning")
    back_to = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("auth.login", next=safe_next(back_to)))
