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


def test_a_change_saved_by_another_worker_applies_on_the_next_request(app, db, admin):
    """Two app instances on one database stand in for two worker processes."""
    from config import TestingConfig
    from portal import create_app

    settings.register("test.shared", "old")
    class OtherWorker(TestingConfig):
        SQLALCHEMY_DATABASE_URI = app.config["SQLALCHEMY_DATABASE_URI"]

    other_worker = create_app(OtherWorker)
    # each request gets a fresh app context and `g`, as in production
    with app.app_context(), app.test_request_context():
        assert settings.get("test.shared") == "old"
    with other_worker.app_context():
        settings.save({"test.shared": "new"})
        db.session.remove()
        db.engine.dispose()
    with app.app_context(), app.test_request_context():
        assert settings.get("test.shared") == "new"
