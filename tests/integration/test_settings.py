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


def test_a_change_written_by_another_process_is_seen_on_the_next_request(app, db, admin):
    """Another worker's save, played by a separate connection writing the rows and a new version
    the way settings.save does: the copy this process keeps is never used past that."""
    import json
    import uuid

    import sqlalchemy as sa

    settings.register("test.elsewhere", "old")
    settings.save({"test.elsewhere": "old-but-stored"})
    with app.app_context(), app.test_request_context():  # a request of its own, with its own `g`
        assert settings.get("test.elsewhere") == "old-but-stored"  # now cached with its version
    with db.engine.begin() as other_process:
        other_process.execute(sa.text("UPDATE setting SET value = :v WHERE key = 'test.elsewhere'"),
                              {"v": json.dumps("changed elsewhere")})
        other_process.execute(sa.text("UPDATE setting SET value = :v WHERE key = 'settings.version'"),
                              {"v": json.dumps(uuid.uuid4().hex)})
    with app.app_context(), app.test_request_context():
        assert settings.get("test.elsewhere") == "changed elsewhere"


def _reads_every_setting(statement: str) -> bool:
    """SELECT setting.key, setting.value FROM setting (the version subquery has a WHERE)."""
    flat = " ".join(statement.split()).lower()
    return flat.startswith("select setting.") and "from setting" in flat and "where" not in flat


def test_a_signed_in_page_view_reads_the_settings_rows_only_after_a_change(app, db, client, make_employee):
    """The user loader's query brings the settings version; the rows are read again only when it
    changed (docs/performance.md)."""
    import sqlalchemy as sa

    from tests.conftest import log_in

    make_employee(username="ann")
    settings.save({"session.timeout_minutes": 100})
    assert log_in(client, "ann").status_code == 302
    statements: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        client.get("/account/")
        client.get("/account/")
        full_reads_before = sum(_reads_every_setting(s) for s in statements)
        settings.save({"session.timeout_minutes": 90})
        statements.clear()
        client.get("/account/")
        full_reads_after = sum(_reads_every_setting(s) for s in statements)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)
    assert full_reads_before == 0
    assert full_reads_after == 1


def test_a_derived_value_is_built_once_per_version_and_never_outlives_it(app, db):
    """What is computed from the settings (the typed MFA settings, the session timeouts) is kept with
    the values it came from: built once while the version stands, again after any change."""
    import json
    import uuid

    import sqlalchemy as sa

    settings.register("test.derived", "first")
    settings.save({"test.derived": "second"})
    builds = []

    def build():
        builds.append(settings.get("test.derived"))
        return builds[-1].upper()

    for _ in range(3):  # three requests, each with its own `g`
        with app.app_context(), app.test_request_context():
            assert settings.derived("test.derived.upper", build) == "SECOND"
    assert builds == ["second"]
    with db.engine.begin() as other_process:
        other_process.execute(sa.text("UPDATE setting SET value = :v WHERE key = 'test.derived'"),
                              {"v": json.dumps("third")})
        other_process.execute(sa.text("UPDATE setting SET value = :v WHERE key = 'settings.version'"),
                              {"v": json.dumps(uuid.uuid4().hex)})
    with app.app_context(), app.test_request_context():
        assert settings.derived("test.derived.upper", build) == "THIRD"
    assert builds == ["second", "third"]


def test_the_session_timeout_follows_a_change_made_by_another_worker(app, db):
    from config import TestingConfig
    from portal import create_app
    from portal.security import session_policy

    class OtherWorker(TestingConfig):
        SQLALCHEMY_DATABASE_URI = app.config["SQLALCHEMY_DATABASE_URI"]

    settings.save({"session.timeout_applies": session_policy.ALWAYS, "session.timeout_minutes": 100})
    with app.app_context(), app.test_request_context():
        assert session_policy.current().inactivity.total_seconds() == 100 * 60
    other_worker = create_app(OtherWorker)
    with other_worker.app_context():
        settings.save({"session.timeout_minutes": 30})
        db.session.remove()
        db.engine.dispose()
    with app.app_context(), app.test_request_context():
        assert session_policy.current().inactivity.total_seconds() == 30 * 60
