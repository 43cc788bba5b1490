"""Codes the portal sends (by email, later by SMS): issue, rate-limit, check.

A code is random digits from a CSPRNG, stored as a keyed hash, valid for a few
minutes, bound to one browser's sign-in or signup (`binding`), and closed when
used, when resent (the new code voids the old), or when its attempts run out.
Checking closes it with one conditional UPDATE, so it works once under races.
"""
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, update

from portal.extensions import db
from portal.models import MfaChallenge

RESEND_GAP = timedelta(seconds=30)
WINDOW = timedelta(minutes=15)
SENDS_PER_WINDOW = 5


def _digest(code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"sent-code:" + code.strip().encode(), hashlib.sha256).hexdigest()


def new_code(length: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(length))


def wait_before_next_send(employee_id: int, now: datetime, excluding: int | None = None) -> int:
    """Seconds until this employee may be sent another code (0: now): one per 30 s, five per 15 min.
    `excluding`: the code being sent now, already written."""
    query = (db.select(MfaChallenge.created_at)
             .where(MfaChallenge.employee_id == employee_id, MfaChallenge.created_at > now - WINDOW)
             .order_by(MfaChallenge.created_at.desc()))
    if excluding is not None:
        query = query.where(MfaChallenge.id != excluding)
    recent = list(db.session.scalars(query))
    waits = [0.0]
    if recent:
        waits.append((recent[0] + RESEND_GAP - now).total_seconds())
    if len(recent) >= SENDS_PER_WINDOW:
        waits.append((recent[SENDS_PER_WINDOW - 1] + WINDOW - now).total_seconds())
    return max(0, int(max(waits) + 0.999))


def issue(employee_id: int, method: str, purpose: str, binding: str, length: int,
          validity: timedelta, now: datetime, replaces_prefix: str | None = None) -> tuple[MfaChallenge, str]:
    """A new code for this browser; any earlier open code of the same kind is voided, and with
    `replaces_prefix` also those whose binding starts with it (clients known only by a challenge,
    each with a new one: the newest code sent to them is the one that works)."""
    replaced = MfaChallenge.binding == binding
    if replaces_prefix:
        replaced = or_(replaced, MfaChallenge.binding.startswith(replaces_prefix, autoescape=True))
    db.session.execute(
        update(MfaChallenge)
        .where(MfaChallenge.employee_id == employee_id, MfaChallenge.method == method, replaced,
               MfaChallenge.closed_at.is_(None))
        .values(closed_at=now)
    )
    code = new_code(length)
    challenge = MfaChallenge(employee_id=employee_id, method=method, purpose=purpose, binding=binding,
                             code_hash=_digest(code), created_at=now, expires_at=now + validity)
    db.session.add(challenge)
    return challenge, code


@dataclass(frozen=True)
class Check:
    ok: bool
    open_challenge: bool  # False: nothing to check against (none sent, expired, used up)


def check(employee_id: int, method: str, purpose: str, binding: str, code: str, now: datetime,
          max_attempts: int) -> Check:
    challenge = db.session.scalar(
        db.select(MfaChallenge)
        .where(MfaChallenge.employee_id == employee_id, MfaChallenge.method == method,
               MfaChallenge.purpose == purpose, MfaChallenge.binding == binding,
               MfaChallenge.closed_at.is_(None), MfaChallenge.expires_at > now)
        .order_by(MfaChallenge.id.desc()).limit(1))
    if challenge is None:
        return Check(False, False)
    if code and hmac.compare_digest(challenge.code_hash, _digest(code)):
        spent = db.session.execute(
            update(MfaChallenge).where(MfaChallenge.id == challenge.id, MfaChallenge.closed_at.is_(None))
            .values(closed_at=now, attempts=MfaChallenge.attempts + 1)
            .execution_options(synchronize_session=False))
        return Check(spent.rowcount == 1, True)
    values = {"attempts": MfaChallenge.attempts + 1}
    if challenge.attempts + 1 >= max_attempts:
        values["closed_at"] = now  # out of attempts: the code is void
    db.session.execute(update(MfaChallenge).where(MfaChallenge.id == challenge.id).values(values)
                       .execution_options(synchronize_session=False))
    return Check(False, True)
