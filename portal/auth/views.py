from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from portal.auth import bp
from portal.auth.forms import LoginForm, SetupForm
from portal.extensions import limiter
from portal.mfa import service as mfa
from portal.models import StatusLevel
from portal.security.pending import begin_pending
from portal.security.rate_limits import password_failures
from portal.security.session_guard import ENDED_MESSAGE, EXPIRED_MESSAGE, begin_session, end_current_session
from portal.security.urls import safe_next
from portal.services.employees import EmployeeData, EmployeeRuleError
from portal.services.setup import create_first_administrator, setup_token_valid

# Why the session-timeout script sent the browser here (its ?reason=), in words.
SIGNED_OUT_NOTICES = {"inactivity": EXPIRED_MESSAGE, "ended": ENDED_MESSAGE}


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], methods=["POST"], scope="login")
@password_failures
def login():
    if current_user.is_authenticated:
        return redirect(url_for("auth.home"))
    form = LoginForm()
    notice = SIGNED_OUT_NOTICES.get(request.args.get("reason", ""))
    if notice and request.method == "GET":
        flash(notice, "warning")
    if form.validate_on_submit():
        next_url = safe_next(request.args.get("next"))
        if mfa.second_step_needed():
            begin_pending(form.employee, next_url)
            return redirect(url_for("auth.second_step"))
        begin_session(form.employee)
        return redirect(next_url or url_for("auth.home"))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout():
    end_current_session("signed out")  # also abandons a pending second step
    flash("You have logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.get("/")
@login_required
def home():
    return render_template("auth/home.html")


@bp.route("/setup/<token>", methods=["GET", "POST"])
@limiter.limit("20 per minute")
def setup(token: str):
    if not setup_token_valid(token):
        abort(404)
    form = SetupForm()
    if form.validate_on_submit():
        data = EmployeeData(
            username=form.username.data,
            full_name=form.full_name.data,
            email=form.email.data or None,
            status_level=StatusLevel.ADMINISTRATOR,
        )
        try:
            created = create_first_administrator(data, form.password.data)
        except EmployeeRuleError as error:
            form[error.field].errors.append(error.message)
        else:
            if created is None:
                abort(404)  # another submission used the link first
            flash("The administrator has been created. Log in to continue.", "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/setup.html", form=form)
