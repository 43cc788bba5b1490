"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from portal.models.dialect_only import include_in_schema_comparison


def _differences(db):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "include_object": include_in_schema_comparison})
        return compare_metadata(context, db.metadata)


def test_upgraded_database_matches_the_models(db):
    # the suite's database was built by `upgrade()` from empty (see conftest)
    assert _differences(db) == []


def test_one_head_and_the_database_is_at_it(app, db):
    script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
    heads = script.get_heads()
    assert len(heads) == 1
    with db.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == heads[0]


def test_downgrade_to_empty_and_upgrade_again(db):
    downgrade(revision="base")
    with db.engine.connect() as conn:
        assert set(db.inspect(conn).get_table_names()) <= {"alembic_version"}
    upgrade()
    assert _differences(db) == []
