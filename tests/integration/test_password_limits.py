"""One budget of failed passwords per address, whatever door they are tried at: the login
form, the token endpoint and the Web POS link and login calls (portal.security.rate_limits)."""
import pytest

from tests.conftest import log_in
from tests.integration.test_pos_calls import call, link, make_terminal


@pytest.fixture
def three_failures_a_minute(app):
    before = app.config["RATELIMIT_LOGIN_FAILURES"]
    app.config["RATELIMIT_LOGIN_FAILURES"] = "3 per minute"
    yield
    app.config["RATELIMIT_LOGIN_FAILURES"] = before


def test_failures_at_every_door_count_on_one_budget(app, db, client, make_employee, three_failures_a_minute):
    make_employee(username="cashier")
    make_terminal(db, "Till 1", "SHOP1-TILL1")
    assert log_in(client, "cashier", "wrong password 1").status_code == 200  # refused, form shown again
    assert link(client, password="wrong password 2").status_code == 401
    token = client.post("/api/token", data={"username": "cashier", "password": "wrong password 3",
                                            "service": "mobile_app"})
    assert token.status_code == 401
    # the budget is spent: even the right password is not tried, at any of the doors
    assert log_in(client, "cashier").status_code == 429
    assert link(client).status_code == 429
    assert call(client, "link", {}).json["errorcode"] == "ratelimited"


def test_successes_do_not_spend_the_budget(app, db, client, make_employee, three_failures_a_minute):
    make_employee(username="cashier")
    for _ in range(5):
        response = client.post("/api/token", data={"username": "cashier", "password": "correct horse battery",
                                                   "service": "mobile_app"})
        assert response.status_code == 200
