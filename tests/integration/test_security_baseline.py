"""The security baseline every response carries, and bad input that must not hurt."""
import pytest

from config import ProductionConfig, TestingConfig
from portal import create_app
from tests.conftest import csrf_token, log_in, post_form


def test_security_headers_on_pages(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP here


def test_hsts_when_served_over_https(client):
    response = client.get("/login", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_each_security_header_is_sent_once_and_a_views_own_value_is_kept(app):
    from flask import Response

    from portal.security.headers import add_security_headers

    own = Response("x", headers={"x-frame-options": "SAMEORIGIN", "Referrer-Policy": "no-referrer"})
    with app.test_request_context("/login", base_url="https://localhost"):
        headers = add_security_headers(own).headers
    assert headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert headers.getlist("Referrer-Policy") == ["no-referrer"]
    assert len(headers.getlist("Content-Security-Policy")) == 1
    assert len(headers.getlist("Strict-Transport-Security")) == 1


def test_pages_have_no_inline_script(client, admin_client):
    for url in ("/", "/employees/", "/employees/new", "/audit/", "/account/"):
        html = admin_client.get(url).get_data(as_text=True)
        assert "<script>" not in html and " onclick=" not in html and "style=" not in html, url


def test_session_cookie_is_httponly_and_samesite_lax(client, make_employee):
    make_employee(username="ann")
    response = log_in(client, "ann")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_post_without_csrf_token_is_refused_and_changes_nothing(client, admin_client, db):
    from portal.models import Employee

    response = admin_client.post("/employees/new", data={
        "username": "intruder", "full_name": "In Truder", "status_level": "9", "active": "y",
        "password": "a long enough password", "confirm": "a long enough password"})
    assert response.status_code == 400
    assert "The form had expired" in response.get_data(as_text=True)
    assert db.session.scalar(db.select(Employee).where(Employee.username_key == "intruder")) is None


def test_login_with_a_json_body_is_refused(client, make_employee):
    make_employee(username="ben")
    response = client.post("/login", json={"username": "ben", "password": "correct horse battery"})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_over_long_login_fields_are_field_errors(client):
    response = post_form(client, "/login", {"username": "u" * 5000, "password": "p" * 5000})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Field cannot be longer than 64 characters." in html


def test_oversized_request_body_is_413_not_500(client):
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"csrf_token": token, "username": "x", "password": "y" * (2 * 1024 * 1024)})
    assert response.status_code == 413


@pytest.mark.parametrize("url", ["/employees/999999", "/employees/abc", "/no/such/page", "/setup/not-a-token"])
def test_unknown_urls_and_ids_are_404(admin_client, url):
    response = admin_client.get(url)
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def test_unexpected_error_shows_a_page_without_a_stack_trace():
    class Config(TestingConfig):
        SQLALCHEMY_DATABASE_URI = "sqlite://"

    app = create_app(Config)
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internal detail")

    response = app.test_client().get("/boom")
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in html
    assert "secret internal detail" not in html and "Traceback" not in html


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "MFA_ENCRYPTION_KEYS"])
def test_production_needs_its_secrets(monkeypatch, missing):
    for name in ("SECRET_KEY", "DATABASE_URL", "MFA_ENCRYPTION_KEYS"):
        monkeypatch.setenv(name, "set")
    monkeypatch.delenv(missing)
    with pytest.raises(RuntimeError, match=missing):
        ProductionConfig()


def test_production_cookie_is_host_prefixed_and_secure(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "k" * 64)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    monkeypatch.setenv("MFA_ENCRYPTION_KEYS", "x")
    config = ProductionConfig()
    assert config.SESSION_COOKIE_NAME == "__Host-session" and config.SESSION_COOKIE_SECURE
    app = create_app(config)
    assert app.debug is False


@pytest.mark.parametrize(("setting", "threshold"), [(None, 5), ("0", None), ("3", 3)])
def test_production_prepares_statements_unless_told_not_to(monkeypatch, setting, threshold):
    """PgBouncer in transaction mode (before 1.21) needs psycopg's prepared statements off."""
    for name, value in {"SECRET_KEY": "k" * 64, "MFA_ENCRYPTION_KEYS": "x",
                        "DATABASE_URL": "postgresql+psycopg://portal@db.internal/portal"}.items():
        monkeypatch.setenv(name, value)
    if setting is None:
        monkeypatch.delenv("DB_PREPARE_THRESHOLD", raising=False)
    else:
        monkeypatch.setenv("DB_PREPARE_THRESHOLD", setting)
    assert ProductionConfig().SQLALCHEMY_ENGINE_OPTIONS["connect_args"] == {"prepare_threshold": threshold}


def test_nothing_but_static_files_may_be_cached(admin_client):
    for url in ("/", "/audit/export.csv", "/session/status", "/login/verify"):
        assert admin_client.get(url).headers["Cache-Control"] == "no-store", url
    static = admin_client.get("/static/css/portal.css")
    static.close()
    assert "no-store" not in static.headers.get("Cache-Control", "")


def test_an_sqlite_library_without_returning_is_refused_at_start_up(monkeypatch):
    import sqlite3

    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    class OnSqlite(TestingConfig):
        SQLALCHEMY_DATABASE_URI = "sqlite://"

    with pytest.raises(RuntimeError, match="SQLite 3.34.1 is too old"):
        create_app(OnSqlite)


def test_bootstrap_is_served_locally_under_any_mount_point(client):
    """Made once per mount point (portal/page_assets.py); a CDN address would break a closed network."""
    import re

    for base, prefix in (("http://localhost/", ""), ("http://localhost/backoffice/", "/backoffice"),
                         ("http://localhost/", "")):
        html = client.get("/login", base_url=base).get_data(as_text=True)
        css = re.findall(r'<link rel="stylesheet" href="([^"]+bootstrap[^"]*)"', html)
        js = re.findall(r'<script src="([^"]+)"', html)
        assert css == [f"{prefix}/bootstrap/static/css/bootstrap.min.css"], base
        assert f"{prefix}/bootstrap/static/js/bootstrap.min.js" in js, base
        assert "cdn" not in html.lower()
