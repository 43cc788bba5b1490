"""Reading and changing system-wide settings (Sys Config).

Each setting is declared once with its default; stored rows override defaults.
Every change also writes a new random version (one row, in the same transaction).
A worker keeps the last values it read with their version, and on each request
reads only the version (in the signed-in employee's query when there is one,
see `version_column`), reading the rows again only when the version has changed.
Values derived from the settings (`derived`) are kept with the values they came from.
So a change saved by one worker applies on the next request of every worker,
without a full read of the settings per request (docs/performance.md).
"""
import threading
import uuid
from typing import Any

from flask import g, has_request_context

from portal.extensions import db
from portal.models import Setting
from portal.security.audit import record_event

DEFAULTS: dict[str, Any] = {}


def register(key: str, default: Any) -> None:
    """Declare a setting; later features add theirs at import time."""
    DEFAULTS.setdefault(key, default)


VERSION_KEY = "settings.version"  # internal: not a setting, never in DEFAULTS
_cache_lock = threading.Lock()
_cache: dict[str, Any] = {"version": None, "values": None, "derived": {}}


def version_column():
    """The settings version as a scalar subquery, to ride along in a query the request makes anyway."""
    return db.select(Setting.value).where(Setting.key == VERSION_KEY).scalar_subquery()


def note_version(version: Any) -> None:
    """The version read by another query of this request (the user loader)."""
    if has_request_context():
        g.settings_version = version


def _current_version() -> Any:
    if has_request_context() and "settings_version" in g:
        return g.settings_version
    return db.session.scalar(db.select(Setting.value).where(Setting.key == VERSION_KEY))


def _read_rows() -> dict[str, Any]:
    return {key: value for key, value in db.session.execute(db.select(Setting.key, Setting.value))
            if key != VERSION_KEY}


def _stored() -> dict[str, Any]:
    if has_request_context() and "settings" in g:
        return g.settings
    version = _current_version()
    with _cache_lock:
        cached = _cache["values"] if version is not None and _cache["version"] == version else None
    if cached is None:
        cached = _read_rows()
        if version is not None:  # without a version row there is nothing to check a copy against
            with _cache_lock:
                _cache.update(version=version, values=cached, derived={})
    if has_request_context():
        g.settings = cached
    return cached


def bump_version() -> None:
    """Mark the stored settings as changed; part of the caller's transaction."""
    row = db.session.get(Setting, VERSION_KEY) or Setting(key=VERSION_KEY)
    row.value = uuid.uuid4().hex
    db.session.add(row)


def derived(name: str, build):
    """A value computed from the settings alone (e.g. the typed MFA settings), built once per
    settings version in each process; it must be immutable, as requests share it. Without a
    version row yet (no change ever saved) it is built once per request."""
    values = _stored()
    with _cache_lock:
        shared = _cache["derived"] if _cache["values"] is values else None
        if shared is not None and name in shared:
            return shared[name]
    if shared is None:
        if not has_request_context():
            return build()
        per_request = g.setdefault("settings_derived", {})
        if name not in per_request:
            per_request[name] = build()
        return per_request[name]
    value = build()
    with _cache_lock:
        if _cache["values"] is values:  # not replaced by a newer version meanwhile
            _cache["derived"][name] = value
    return value


def get(key: str) -> Any:
    if key not in DEFAULTS:
        raise KeyError(f"Unknown setting {key!r}")
    return _stored().get(key, DEFAULTS[key])


def save(changes: dict[str, Any], actor=None, audit: bool = True) -> dict[str, tuple[Any, Any]]:
    """Store changed values in one transaction and audit old → new; returns what changed."""
    changed: dict[str, tuple[Any, Any]] = {}
    for key, new in changes.items():
        old = get(key)
        if old == new:
            continue
        row = db.session.get(Setting, key) or Setting(key=key)
        row.value = new
        row.updated_by_id = actor.id if actor is not None else None
        db.session.add(row)
        changed[key] = (old, new)
    if changed:
        bump_version()
    if changed and audit:
        record_event(
            "settings.changed",
            actor=actor,
            details={k: {"old": o, "new": n} for k, (o, n) in changed.items()},
        )
    db.session.commit()
    if has_request_context():
        g.pop("settings", None)
        g.pop("settings_derived", None)
        g.pop("settings_version", None)
    return changed
