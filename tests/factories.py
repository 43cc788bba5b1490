"""factory_boy factories; every employee's password is DEFAULT_PASSWORD unless given."""
import factory
from factory.alchemy import SQLAlchemyModelFactory

from portal.extensions import db
from portal.models import Employee
from portal.security.passwords import hash_password

DEFAULT_PASSWORD = "correct horse battery"


class EmployeeFactory(SQLAlchemyModelFactory):
    class Meta:
        model = Employee
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "commit"
        exclude = ("password",)

    username = factory.Sequence(lambda n: f"employee{n}")
    full_name = factory.Faker("name")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    status_level = 1
    active = True
    password = DEFAULT_PASSWORD
    password_hash = factory.LazyAttribute(lambda o: hash_password(o.password))
