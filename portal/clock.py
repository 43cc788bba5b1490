"""The one source of time.

Every timestamp comes from `utcnow()`. Tests freeze and advance it through the
`clock` fixture, so no test sleeps to wait for an expiry.
"""
from datetime import UTC, datetime, timedelta

_frozen_at: datetime | None = None


def utcnow() -> datetime:
    """Naive UTC, the form stored in every timestamp column (SQLite keeps no zone)."""
    if _frozen_at is not None:
        return _frozen_at
    return datetime.now(UTC).replace(tzinfo=None)


def freeze(at: datetime | None = None) -> datetime:
    global _frozen_at
    _frozen_at = at or datetime.now(UTC).replace(tzinfo=None)
    return _frozen_at


def advance(delta: timedelta) -> datetime:
    if _frozen_at is None:
        raise RuntimeError("advance() needs a frozen clock")
    return freeze(_frozen_at + delta)


def unfreeze() -> None:
    global _frozen_at
    _frozen_at = None
