"""Walk every route: a new route cannot forget its guard (DESIGN.md §10)."""
from portal import settings
from portal.security.pending import SECOND_STEP_ENDPOINTS
from tests.conftest import csrf_token, log_in

# The Web POS device calls need no back-office sign-in: a device token or the terminal's own
# login guards them (tests/integration/test_pos_calls.py).
POS_DEVICE_ENDPOINTS = {"pos.page", "pos.status", "pos.link", "pos.link_code", "pos.login", "pos.logout", "pos.log"}
# The token endpoint and its code sender take a password (and a code) themselves:
# tests/integration/test_api_token.py and test_api_token_sent_codes.py;
# the API's OpenAPI document describes the API and holds nothing about anyone.
# /healthz answers the load balancer: "ok" or "unavailable", nothing else.
PUBLIC_ENDPOINTS = ({"static", "bootstrap.static", "auth.login", "auth.logout", "auth.setup", "api.token",
                     "api.token_code", "api.openapi", "health.healthz"} | POS_DEVICE_ENDPOINTS)


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        url = rule.rule
        for arg in rule.arguments:
            converter = rule._converters[arg].__class__.__name__
            url = url.replace(f"<int:{arg}>", "1").replace(f"<{arg}>", "1" if converter == "IntegerConverter" else "x")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url


def _request(client, method, url, token_page="/login"):
    """GET, or any other method with a valid CSRF token, so that only the guard can refuse."""
    if method == "GET":
        return client.get(url)
    return client.open(url, method=method, data={"csrf_token": csrf_token(client, token_page)})


def test_route_list_is_not_empty(app):
    assert len(list(_routes(app))) >= 8


def _is_json_route(url: str) -> bool:
    return url.startswith(("/api/", "/session/"))


def test_every_private_route_refuses_an_anonymous_visitor(app, client):
    for endpoint, method, url in _routes(app):
        response = _request(client, method, url)
        if _is_json_route(url):
            assert response.status_code == 401 and response.json["errorcode"], f"{method} {url} ({endpoint})"
            continue
        assert response.status_code == 302, f"{method} {url} ({endpoint}) answered {response.status_code}"
        assert response.headers["Location"].startswith("/login"), endpoint


def test_every_status_restricted_route_refuses_a_too_low_status(app, client, make_employee):
    make_employee(username="cashier", status_level=1)
    log_in(client, "cashier")
    restricted = 0
    for endpoint, method, url in _routes(app):
        required = getattr(app.view_functions[endpoint], "required_status", None)
        if required is None:
            continue
        restricted += 1
        assert _request(client, method, url, "/").status_code == 403, f"{method} {url} ({endpoint})"
    assert restricted >= 5


def test_every_route_is_either_public_signed_in_or_status_restricted(app):
    """A view must say who may open it: a status level, or the signed-in list below."""
    signed_in_only = {"auth.home", "auth.session_status", "auth.session_keepalive"} | SECOND_STEP_ENDPOINTS
    for endpoint, _method, _url in _routes(app):
        view = app.view_functions[endpoint]
        own_account = endpoint.startswith("account.")  # every employee's own profile
        api_caller = getattr(view, "api_auth", False)  # a bearer token or the signed-in browser
        assert own_account or api_caller or endpoint in signed_in_only or hasattr(view, "required_status"), (
            f"{endpoint} declares no status level; use require_status() or list it here on purpose"
        )


def test_a_pending_visitor_reaches_nothing_but_the_second_step(app, client, make_employee):
    make_employee(username="halfway", status_level=9)
    settings.save({"mfa.status": True})
    response = log_in(client, "halfway")
    assert response.headers["Location"] == "/login/verify"
    token = csrf_token(client, "/login/verify")
    checked = 0
    for endpoint, method, url in _routes(app):
        if endpoint in SECOND_STEP_ENDPOINTS:
            continue
        checked += 1
        if method == "GET":
            response = client.get(url)
        else:
            response = client.open(url, method=method, data={"csrf_token": token})
        if _is_json_route(url):
            assert response.status_code == 401 and response.json["errorcode"] == "mfapending", endpoint
            continue
        assert response.status_code == 302, f"{method} {url} ({endpoint}) answered {response.status_code}"
        assert response.headers["Location"] == "/login/verify", endpoint
    assert checked >= 8
    assert client.get("/login").headers["Location"] == "/login/verify"
