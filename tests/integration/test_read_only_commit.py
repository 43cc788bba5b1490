"""On PostgreSQL a request that only read ends with COMMIT, so psycopg keeps its prepared
statements; anything else still ends with ROLLBACK and writes nothing it did not commit itself."""
import pytest
import sqlalchemy as sa

from portal import create_app
from portal.extensions import db
from portal.models import Employee
from tests.conftest import log_in


@pytest.fixture
def other_app(app):
    """A second app on the suite's database, with a few views that misbehave on purpose."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("PostgreSQL only: on SQLite every request ends with ROLLBACK")
    from config import TestingConfig

    class OtherConfig(TestingConfig):
        SQLALCHEMY_DATABASE_URI = app.config["SQLALCHEMY_DATABASE_URI"]

    other = create_app(OtherConfig)

    def change_without_commit(employee_id):
        db.session.get(Employee, employee_id).full_name = "Changed, not committed"
        return "changed"

    def update_without_commit(employee_id):
        db.session.execute(sa.update(Employee).where(Employee.id == employee_id).values(full_name="Updated"))
        return "updated"

    def update_then_savepoint_then_read(employee_id):
        db.session.execute(sa.update(Employee).where(Employee.id == employee_id).values(full_name="Updated"))
        db.session.begin_nested()
        db.session.scalar(sa.select(Employee.full_name).where(Employee.id == employee_id))
        return "read in a savepoint after an update"

    def raw_select(employee_id):
        # driver SQL is not checked statement by statement: a SELECT could call something that writes
        db.session.connection().exec_driver_sql("SELECT full_name FROM employee WHERE id = %(id)s",
                                                {"id": employee_id})
        return "raw"

    def update_then_fail(employee_id):
        db.session.execute(sa.update(Employee).where(Employee.id == employee_id).values(full_name="Updated"))
        raise RuntimeError("a view that fails after writing")  # the 500 page is answered, the error handled

    for view in (change_without_commit, update_without_commit, update_then_savepoint_then_read,
                 raw_select, update_then_fail):
        other.add_url_rule(f"/test/{view.__name__}/<int:employee_id>", view.__name__, view)
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def _transaction_ends(other_app, request):
    """Run `request()` and return how the other app's engine ended transactions meanwhile."""
    ends: list[str] = []
    with other_app.app_context():
        engine = db.engine
    listeners = {name: (lambda _conn, name=name: ends.append(name)) for name in ("commit", "rollback")}
    for name, listener in listeners.items():
        sa.event.listen(engine, name, listener)
    try:
        response = request()
    finally:
        for name, listener in listeners.items():
            sa.event.remove(engine, name, listener)
    return response, ends


def test_a_page_view_ends_with_commit_and_the_loader_query_stays_prepared(other_app, make_employee):
    make_employee(username="ann")
    client = other_app.test_client()
    assert log_in(client, "ann").status_code == 302
    for _ in range(8):  # psycopg prepares a statement from its sixth run on a connection
        assert client.get("/").status_code == 200
    response, ends = _transaction_ends(other_app, lambda: client.get("/"))
    assert response.status_code == 200 and ends == ["commit"]
    with other_app.app_context(), db.engine.connect() as conn:  # the one pooled connection
        prepared = conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars().all()
    assert any("FROM employee" in statement and "user_session" in statement for statement in prepared)


@pytest.mark.parametrize("view", ["change_without_commit", "update_without_commit", "update_then_savepoint_then_read",
                                  "raw_select", "update_then_fail"])
def test_a_request_that_did_not_only_read_ends_with_rollback_and_writes_nothing(other_app, make_employee, db,
                                                                               view):
    ann = make_employee(username="ann", full_name="Ann Original")
    client = other_app.test_client()
    response, ends = _transaction_ends(other_app, lambda: client.get(f"/test/{view}/{ann.id}"))
    assert response.status_code == (500 if view == "update_then_fail" else 200)
    assert "commit" not in ends
    db.session.expire_all()
    assert db.session.get(Employee, ann.id).full_name == "Ann Original"
