"""The POS device side: linking a browser to a terminal, checking its device token,
signing employees in at the terminal, and the client log its device sends.

Every refusal is a `PosRefusal` with a stable errorcode; the calls answer it as JSON.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update

from portal import settings
from portal.clock import utcnow
from portal.extensions import db
from portal.mfa import service as mfa
from portal.models import Employee, PosClientLog, PosTerminal
from portal.security import lockout
from portal.security.audit import record_event
from portal.security.device_tokens import device_token_digest, matches, new_device_token
from portal.security.signin import authenticate, fingerprint
from portal.services.terminals import find_terminal, may_use

# Sys Config › POS › "Use terminal/device security". On: only a linked device acts as a
# terminal. Off (for migration): /pos?terminal=<key> still picks the terminal.
DEVICE_SECURITY = "pos.device_security"
settings.register(DEVICE_SECURITY, True)

SEEN_WRITE_INTERVAL = timedelta(minutes=1)
CACHE_WARNING_WINDOW = timedelta(hours=1)
LEGACY_AUDIT_INTERVAL = timedelta(hours=1)


def device_security_on() -> bool:
    return bool(settings.get(DEVICE_SECURITY))


class PosRefusal(Exception):
    def __init__(self, errorcode: str, message: str, status: int, field: str | None = None, **extra):
        super().__init__(message)
        self.errorcode = errorcode
        self.message = message
        self.status = status
        self.field = field  # the popup field the message belongs beside
        self.extra = extra  # more members of the JSON answer (methods, retry_after)


def wrong_login() -> PosRefusal:
    return PosRefusal("invalidlogin", "Wrong username or password.", 401, "password")


def not_allowed() -> PosRefusal:
    return PosRefusal("notallowed", "You are not allowed to use this terminal.", 403, "username")


def already_linked() -> PosRefusal:
    return PosRefusal("alreadylinked", "This terminal is already linked to another device. "
                      "Ask a manager to unlink it in POS Terminals first.", 409, "terminal_key")


@dataclass(frozen=True)
class Link:
    terminal: PosTerminal
    device_token: str  # shown to the device once; only its digest is stored


def _refuse_link(reason: str, refusal: PosRefusal, employee: Employee | None, key: str,
                 terminal: PosTerminal | None = None) -> PosRefusal:
    """Audit a refused link. A typed key that names no terminal is kept as a keyed fingerprint
    only: people type other things (a password) into the wrong field."""
    where = {"terminal": terminal.key_identifier} if terminal else {"terminal_fingerprint": fingerprint(key)}
    record_event("pos.link_failed", actor=employee, subject=employee, details={"reason": reason, **where})
    db.session.commit()
    return refusal


def link_device(username: str, password: str, terminal_key: str, otp: str | None, address: str,
                method: str | None = None, challenge: str | None = None) -> Link:
    """Link this device to the terminal: the password, the second factor, then the terminal's rules.

    Nothing about terminals is said before both factors pass. The spent code is committed
    before the terminal is marked linked by one conditional UPDATE (`is_linked` still false),
    so of several devices linking at once exactly one wins and no code is accepted twice.
    """
    employee = authenticate(username, password)
    if employee is None:
        raise _refuse_link("wrong login", wrong_login(), None, terminal_key)
    verification = _second_factor(employee, otp, method, challenge, address, terminal_key)
    lockout.clear(employee, lockout.PASSWORD)
    db.session.commit()
    if verification is not None:
        mfa.notify_after_sign_in(employee, verification)
    terminal = _linkable_terminal(employee, terminal_key)

    token = new_device_token()
    now = utcnow()
    won = db.session.execute(
        update(PosTerminal).where(PosTerminal.id == terminal.id, PosTerminal.is_linked.is_(False))
        .values(is_linked=True, device_token_hash=device_token_digest(token), linked_at=now,
                linked_by_id=employee.id, last_seen_at=now, updated_at=now)
    ).rowcount == 1
    if not won:
        db.session.rollback()
        raise _refuse_link("already linked", already_linked(), employee, terminal_key, terminal)
    record_event("pos.terminal_linked", actor=employee, subject=employee,
                 details={"terminal": terminal.key_identifier, "name": terminal.name})
    db.session.commit()
    db.session.refresh(terminal)
    return Link(terminal, token)


def _linkable_terminal(employee: Employee, terminal_key: str) -> PosTerminal:
    terminal = find_terminal(terminal_key)
    if terminal is None:
        raise _refuse_link("unknown terminal", PosRefusal(
            "unknownterminal", "No terminal has this Terminal Key Identifier.", 404, "terminal_key"),
            employee, terminal_key)
    if not may_use(terminal, employee):
        raise _refuse_link("not allowed", not_allowed(), employee, terminal_key, terminal)
    if terminal.is_linked:
        raise _refuse_link("already linked", already_linked(), employee, terminal_key, terminal)
    return terminal


def _too_many_codes(locked_until: datetime) -> str:
    return f"Too many wrong codes. Try again after {locked_until:%H:%M} UTC."


def _signup_first(employee: Employee, terminal_key: str) -> PosRefusal:
    return _refuse_link("mfa signup required", PosRefusal(
        "mfasignuprequired", "Sign up for MFA in the back office first, then link this terminal.", 403,
        "username"), employee, terminal_key)


def _second_factor(employee: Employee, otp: str | None, method: str | None, challenge: str | None, address: str,
                   terminal_key: str):
    """Linking creates a device credential: an enrolled employee, or anyone in Mandatory mode,
    proves the second factor too (same replay and lockout rules as the back-office sign-in):
    a code typed from the authenticator app, a recovery code, or a code sent by email or SMS
    (send_link_code) with its method and challenge.
    Returns the verification (None when no code was needed); the caller commits."""
    status = mfa.status(employee)
    if not status.must_use:
        return None
    if not status.enrolled:
        raise _signup_first(employee, terminal_key)
    if not (otp or "").strip():
        methods = mfa.method_names(employee)
        message = ("Enter the one-time password from your authenticator app (or a recovery code)."
                   if "totp" in methods else "Have a one-time password sent to you below, then enter it here "
                   "(or a recovery code).")
        raise PosRefusal("mfarequired", message, 401, "otp", methods=methods)
    if method:
        result = mfa.verify(employee, method, otp.strip(), address, commit=False,
                            binding=mfa.challenge_binding(mfa.POS_LINK, challenge or ""))
    else:
        result = mfa.verify_typed_code(employee, otp, address, commit=False)
    if not result.ok:
        message = _too_many_codes(result.locked_until) if result.locked_until else \
            "That code is not valid. Enter the current code."
        raise _refuse_link("wrong code", PosRefusal("invalidotp", message, 401, "otp"), employee, terminal_key)
    return result


def send_link_code(username: str, password: str, terminal_key: str, method: str, address: str) -> mfa.SentCode:
    """The link popup's "Send code by email/SMS": after the password, to an employee who must give
    a second factor to link and can be sent one that way; the browser sign-in's send limits apply.
    Nothing about terminals is said here (the key is only kept, as a fingerprint, in the audit)."""
    employee = authenticate(username, password)
    if employee is None:
        raise _refuse_link("wrong login", wrong_login(), None, terminal_key)
    status = mfa.status(employee)
    if not status.must_use:
        raise _refuse_link("code not needed", PosRefusal(
            "mfanotrequired", "No one-time password is needed: link with your password.", 409, "otp"),
            employee, terminal_key)
    if not status.enrolled:
        raise _signup_first(employee, terminal_key)
    now = utcnow()
    if employee.is_second_step_locked(now):
        raise _refuse_link("second step locked", PosRefusal(
            "accountlocked", _too_many_codes(employee.mfa_locked_until), 403, "otp"), employee, terminal_key)
    if method not in mfa.sending_methods(employee):
        raise _refuse_link("code method not available", PosRefusal(
            "methodnotavailable", "A code cannot be sent to you that way.", 400, "otp",
            methods=mfa.method_names(employee)), employee, terminal_key)
    db.session.commit()  # what the password check changed (a rehash) stays, whatever the sending does
    try:
        return mfa.send_challenge_code(employee, method, mfa.POS_LINK)
    except mfa.CodeNotSent as refusal:
        if refusal.wait:
            raise _refuse_link("code already sent", PosRefusal(
                "codealreadysent", refusal.message, 429, "otp", retry_after_seconds=refusal.wait),
                employee, terminal_key) from None
        raise _refuse_link("code not sent", PosRefusal("codenotsent", refusal.message, 502, "otp"),
                           employee, terminal_key) from None


def linked_terminal(terminal_key: str | None, device_token: str | None) -> PosTerminal | None:
    """The terminal this device is linked to, or None for a missing, forged or other terminal's token."""
    terminal = find_terminal(terminal_key)
    if terminal is None or not terminal.is_linked or not matches(device_token, terminal.device_token_hash):
        return None
    note_seen(terminal)
    return terminal


def legacy_terminal(terminal_key: str | None) -> PosTerminal | None:
    """With device security off only: the terminal named by the old URL parameter, unless a
    device is linked to it (then only that device acts as it: migration goes terminal by terminal)."""
    if device_security_on():
        return None
    terminal = find_terminal(terminal_key)
    if terminal is None or terminal.is_linked:
        return None
    _note_legacy_use(terminal)
    return terminal


def _note_legacy_use(terminal: PosTerminal) -> None:
    """Audited once an hour per terminal, noted on the terminal at most once a minute: enough to
    see which tills still use the old address, without a write per call."""
    now = utcnow()
    last = terminal.legacy_seen_at
    if last is not None and now - last < SEEN_WRITE_INTERVAL:
        return
    if last is None or now - last >= LEGACY_AUDIT_INTERVAL:
        record_event("pos.legacy_url_used", details={"terminal": terminal.key_identifier})
    terminal.legacy_seen_at = now
    db.session.commit()


def note_seen(terminal: PosTerminal) -> None:
    """Last seen, written at most once a minute per terminal."""
    now = utcnow()
    if terminal.last_seen_at is None or now - terminal.last_seen_at >= SEEN_WRITE_INTERVAL:
        terminal.last_seen_at = now
        db.session.commit()


def sign_in_at_terminal(terminal: PosTerminal, username: str, password: str) -> Employee:
    """The terminal's login window: the password, then the terminal's rules."""
    employee = authenticate(username, password)
    if employee is None:
        raise wrong_login()
    if not may_use(terminal, employee):
        record_event("pos.signin_refused", actor=employee, subject=employee,
                     details={"terminal": terminal.key_identifier, "reason": "not allowed"})
        db.session.commit()
        raise not_allowed()
    lockout.clear(employee, lockout.PASSWORD)
    record_event("pos.signed_in", actor=employee, subject=employee, details={"terminal": terminal.key_identifier})
    db.session.commit()
    return employee


def record_client_log(terminal: PosTerminal, level: str, message: str, cache_session_id: str,
                      logged_at: datetime | None, address: str) -> PosClientLog:
    """Store one client log record; note a warning on the terminal when another cache session ID
    was active for it within the hour (the same terminal used from two places, or a cleared cache)."""
    now = utcnow()
    row = PosClientLog(terminal_id=terminal.id, received_at=now, logged_at=logged_at, level=level,
                       message=message, cache_session_id=cache_session_id, client_address=address)
    db.session.add(row)
    other = db.session.scalar(
        db.select(PosClientLog.cache_session_id).where(
            PosClientLog.terminal_id == terminal.id, PosClientLog.received_at >= now - CACHE_WARNING_WINDOW,
            PosClientLog.cache_session_id != cache_session_id).limit(1))
    if other is not None:
        _warn_cache_sessions(terminal, sorted((other, cache_session_id)), now)
    db.session.commit()
    return row


def _warn_cache_sessions(terminal: PosTerminal, ids: list[str], now: datetime) -> None:
    """Written at most once an hour per terminal, whatever the IDs: a device sending a new ID
    with every record must not write an audit row each time."""
    current = terminal.cache_warning or {}
    if current.get("at") and now - datetime.fromisoformat(current["at"]) < CACHE_WARNING_WINDOW:
        return
    terminal.cache_warning = {"at": now.isoformat(timespec="seconds"), "ids": ids}
    record_event("pos.cache_sessions_overlap", details={"terminal": terminal.key_identifier, "ids": ids})
