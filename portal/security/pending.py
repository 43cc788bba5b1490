"""The pending state between the password step and the second step (DESIGN.md §4).

It lives in the signed session cookie as the employee's id, a fresh random id
and the time of the last step, never the password. While it exists, only the
second-step pages open; it lapses after PENDING_LIFETIME without a step.
"""
import secrets
from datetime import datetime, timedelta

from flask import flash, g, jsonify, redirect, request, session, url_for

from portal.clock import utcnow
from portal.extensions import db
from portal.models import Employee
from portal.security.session_guard import wants_json

PENDING_KEY = "pending"
PENDING_LIFETIME = timedelta(minutes=5)  # without a step
PENDING_MAXIMUM = timedelta(minutes=15)  # from the password, whatever the steps
# The only endpoints a pending visitor may reach.
SECOND_STEP_ENDPOINTS = frozenset({
    "auth.second_step", "auth.send_code", "auth.skip", "auth.signup", "auth.signup_activate", "auth.signup_finish",
    "auth.logout", "static", "bootstrap.static",
})


def begin_pending(employee: Employee, next_url: str | None) -> None:
    """After a correct password: forget everything in the cookie, remember only who is half-way in."""
    session.clear()
    now = utcnow().isoformat()
    session[PENDING_KEY] = {
        "employee_id": employee.id,
        # A password change, deactivation or Reset MFA rotates the token and so ends this state.
        "token": employee.session_token,
        "id": secrets.token_urlsafe(16),
        "since": now,
        "at": now,
        "next": next_url,
    }


def touch_pending(**marks) -> None:
    """A step was taken (signup opened, authenticator confirmed): restart the lapse timer, note `marks`."""
    state = session.get(PENDING_KEY)
    if state:
        session[PENDING_KEY] = {**state, **marks, "at": utcnow().isoformat()}


def pending_mark(name: str):
    return (session.get(PENDING_KEY) or {}).get(name)


def pending_employee() -> Employee | None:
    """The half-signed-in employee, loaded once per request."""
    state = session.get(PENDING_KEY)
    if not state or _lapsed(state):
        return None
    if "pending_employee" not in g:
        employee = db.session.get(Employee, state["employee_id"])
        valid = employee is not None and employee.active and employee.session_token == state.get("token")
        g.pending_employee = employee if valid else None
    return g.pending_employee


def pending_next() -> str | None:
    return (session.get(PENDING_KEY) or {}).get("next")


def _lapsed(state: dict) -> bool:
    now = utcnow()
    return (now - datetime.fromisoformat(state["at"]) > PENDING_LIFETIME
            or now - datetime.fromisoformat(state["since"]) > PENDING_MAXIMUM)


def guard_pending():
    """before_request: a pending visitor reaches the second-step pages only."""
    state = session.get(PENDING_KEY)
    if not state or request.endpoint in ("static", "bootstrap.static"):
        return None
    if _lapsed(state) or pending_employee() is None:
        session.clear()
        if wants_json():
            return jsonify(error="Sign in first.", errorcode="notsignedin"), 401
        flash("Your sign-in was not completed in time. Please log in again.", "warning")
        return redirect(url_for("auth.login"))
    if request.endpoint in SECOND_STEP_ENDPOINTS:
        return None
    if wants_json():
        return jsonify(error="Complete the second sign-in step first.", errorcode="mfapending"), 401
    return redirect(url_for("auth.second_step"))
