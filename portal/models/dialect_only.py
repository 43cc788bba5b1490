"""Schema objects that only one database has: declared in the models like any other, created by
their migration on that database alone, and left out of the comparison of the models with any
other database (Alembic's include_object, for autogenerate and tests/integration/test_migrations.py)."""
from sqlalchemy import Index

from portal.extensions import db

ONLY_ON = "only_on"  # the key in the object's info: the one dialect that has it


def postgresql_only(index: Index) -> Index:
    index.info[ONLY_ON] = "postgresql"
    return index.ddl_if(dialect="postgresql")


def include_in_schema_comparison(obj, name, type_, reflected, compare_to) -> bool:
    declared = compare_to if reflected else obj  # the model's object, when there is one
    only_on = getattr(declared, "info", {}).get(ONLY_ON) if declared is not None else None
    return only_on is None or only_on == db.engine.dialect.name
