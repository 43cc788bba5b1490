"""Back Office portal: the application factory."""
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import load_config


def create_app(config=None) -> Flask:
    """Build the app; `config` is a config name, object or class (default: PORTAL_ENV)."""
    app = Flask(__name__, template_folder="../templates", instance_relative_config=False)
    app.config.from_object(load_config(config) if config is None or isinstance(config, str) else config)
    if app.config["TRUSTED_PROXY_COUNT"]:
        n = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    register_extensions(app)
    register_blueprints(app)
    register_request_hooks(app)
    register_errorhandlers(app)
    register_commands(app)
    register_template_helpers(app)
    return app


# UPDATE … RETURNING (the failure counters, portal/security/lockout.py) needs SQLite 3.35.
MIN_SQLITE = (3, 35, 0)


def check_sqlite_version(uri: str) -> None:
    import sqlite3

    if uri.startswith("sqlite") and sqlite3.sqlite_version_info < MIN_SQLITE:
        raise RuntimeError(f"SQLite {sqlite3.sqlite_version} is too old: the portal needs "
                           f"{'.'.join(map(str, MIN_SQLITE))} or newer (or PostgreSQL)")


def register_extensions(app: Flask) -> None:
    from portal.extensions import bootstrap, csrf, db, limiter, login_manager, migrate
    from portal.models.dialect_only import include_in_schema_comparison

    check_sqlite_version(app.config["SQLALCHEMY_DATABASE_URI"])
    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(app.root_path).parent / "migrations"), render_as_batch=True,
                     include_object=include_in_schema_comparison)
    limiter.init_app(app)  # before CSRF, so that a flood is refused before any other work
    csrf.init_app(app)
    bootstrap.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to open this page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = None  # the server-side session record does this job

    @login_manager.unauthorized_handler
    def unauthorized():
        from flask import jsonify, redirect, request, url_for

        from portal.security.session_guard import wants_json
        from portal.security.urls import safe_next

        if wants_json():
            return jsonify(error="Sign in first.", errorcode="notsignedin"), 401
        return redirect(url_for("auth.login", next=safe_next(request.full_path.rstrip("?"))))

    @login_manager.user_loader
    def load_employee(session_token: str):
        from portal.security.session_guard import load_signed_in

        return load_signed_in(session_token)


def register_blueprints(app: Flask) -> None:
    from portal.account import bp as account_bp
    from portal.api import bp as api_bp
    from portal.audit import bp as audit_bp
    from portal.auth import bp as auth_bp
    from portal.employees import bp as employees_bp
    from portal.health import bp as health_bp
    from portal.pos import bp as pos_bp
    from portal.sysconfig import bp as sysconfig_bp
    from portal.terminals import bp as terminals_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(employees_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(sysconfig_bp)
    app.register_blueprint(terminals_bp)
    app.register_blueprint(pos_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(health_bp)


def register_request_hooks(app: Flask) -> None:
    from portal import read_only_commit, request_log
    from portal.security.device_tokens import refuse_device_credentials_elsewhere
    from portal.security.headers import add_security_headers
    from portal.security.pending import guard_pending
    from portal.security.session_guard import guard_request

    app.before_request(refuse_device_credentials_elsewhere)
    app.before_request(guard_pending)
    app.before_request(guard_request)
    app.after_request(add_security_headers)
    request_log.register(app)
    read_only_commit.register(app)


def register_errorhandlers(app: Flask) -> None:
    from portal.errors import register_errorhandlers as register

    register(app)


def register_commands(app: Flask) -> None:
    from portal.cli import register

    register(app)


def register_template_helpers(app: Flask) -> None:
    from portal import navigation, page_assets
    from portal.mfa.service import sent_destination
    from portal.models import StatusLevel
    from portal.security.permissions import can

    app.jinja_env.globals.update(can=can, StatusLevel=StatusLevel, code_destination=sent_destination,
                                 menu_areas=navigation.menu_areas, start_page_groups=navigation.start_page_groups)
    page_assets.register(app)
