"""Reading and changing system-wide settings (Sys Config).

Each setting is declared once with its default; stored rows override defaults.
Values are read from the database once per request (cached on `flask.g`), so
a change saved by one worker applies on the next request of every worker.
"""
from typing import Any

from flask import g, has_request_context

from portal.extensions import db
from portal.models import Setting
from portal.security.audit import record_event

DEFAULTS: dict[str, Any] = {}


def register(key: str, default: Any) -> None:
    """Declare a setting; later features add theirs at import time."""
    DEFAULTS.setdefault(key, default)


def _stored() -> dict[str, Any]:
    if has_request_context() and "settings" in g:
        return g.settings
    values = {key: value for key, value in db.session.execute(db.select(Setting.key, Setting.value))}
    if has_request_context():
        g.settings = values
    return values


def derived(name: str, build):
    """A value computed from settings (e.g. the typed MFA settings), built once per request."""
    if not has_request_context():
        return build()
    cache = g.setdefault("settings_derived", {})
    if name not in cache:
        cache[name] = build()
    return cache[name]


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
    return changed
