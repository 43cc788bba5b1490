"""The load bench's reference: a minimal Flask app serving the portal's start page with Flask-Login only.

bench/bench_load.py serves it with gunicorn (the same gunicorn.conf.py, the same worker
counts) next to the portal, so that its table shows the portal's overhead as a ratio.
It has what any signed-in Flask page has and nothing of the portal's logic:

- Flask-Login loads the employee from the portal's own PostgreSQL database (the bench's
  scratch database) by the session cookie, with the same query as the portal's user loader
  (`employee.session_token`, active), through Flask-SQLAlchemy with the same pool options;
- GET / renders a Jinja template (reference_templates/home.html) of about the size of the
  portal's start page, with the same Bootstrap CSS link and the same navigation;
- POST /login signs in with a username and password (Argon2 verify against the stored hash),
  so the bench gets a session cookie; GET /healthz answers once the database does.

No session guard or server-side session record, no CSRF, no rate limiting, no security
headers, no request log, no settings: whatever the portal does beyond this is its overhead.

Environment: REFERENCE_DATABASE_URL (a SQLAlchemy URL), SECRET_KEY.

    gunicorn -c gunicorn.conf.py --pythonpath bench reference_app:app
"""
import os
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, abort, redirect, render_template, request
from flask_login import LoginManager, UserMixin, login_required, login_user
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String, text
from sqlalchemy.orm import Mapped, mapped_column

db = SQLAlchemy()
login_manager = LoginManager()
hasher = PasswordHasher()


class Employee(UserMixin, db.Model):
    """The columns of the portal's `employee` table that a page needs."""

    __tablename__ = "employee"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    full_name: Mapped[str] = mapped_column(String(120))
    status_level: Mapped[int]
    active: Mapped[bool]
    password_hash: Mapped[str] = mapped_column(String(255))
    session_token: Mapped[str] = mapped_column(String(64))

    def get_id(self) -> str:
        return self.session_token


@login_manager.user_loader
def load_employee(session_token: str):
    return db.session.scalar(
        db.select(Employee).where(Employee.session_token == session_token, Employee.active.is_(True)))


def create_app() -> Flask:
    app = Flask(__name__, template_folder=str(Path(__file__).with_name("reference_templates")))
    app.config.update(
        SECRET_KEY=os.environ["SECRET_KEY"],
        SQLALCHEMY_DATABASE_URI=os.environ["REFERENCE_DATABASE_URL"],
        # The portal's production pool (config.ProductionConfig, default sizes).
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "pool_size": 5, "max_overflow": 5,
                                   "pool_timeout": 10, "pool_recycle": 1800},
    )
    db.init_app(app)
    login_manager.init_app(app)

    @app.get("/")
    @login_required
    def home():
        return render_template("home.html")

    @app.post("/login")
    def login():
        employee = db.session.scalar(db.select(Employee).where(Employee.username == request.form.get("username", "")))
        try:
            hasher.verify(employee.password_hash if employee else "", request.form.get("password", ""))
        except (VerificationError, InvalidHashError):
            abort(401)
        login_user(employee)
        return redirect("/")

    @app.get("/healthz")
    def healthz():
        db.session.execute(text("SELECT 1"))
        return {"status": "ok"}

    return app


app = create_app()
