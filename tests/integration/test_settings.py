"""The settings home: defaults, stored overrides, audited changes."""
import pytest

from portal import settings
from portal.models import AuditEvent


def test_defaults_until_changed_then_stored_and_audited(db, admin):
    settings.register("test.example", 5)
    assert settings.get("test.example") == 5
    changed = settings.save({"test.example": 7}, actor=admin)
    assert changed == {"test.example": (5, 7)}
    assert settings.get("test.example") == 7
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.event == "settings.changed"))
    assert event.actor_id == admin.id
    assert event.details == {"test.example": {"old": 5, "new": 7}}


def test_saving_the_same_value_writes_nothing(db, admin):
    settings.register("test.same", "a")
    assert settings.save({"test.same": "a"}, actor=admin) == {}
    assert db.session.scalar(db.select(AuditEvent)) is None


def test_unknown_setting_is_an_error():
    with pytest.raises(KeyError):
        settings.get("no.such.setting")
