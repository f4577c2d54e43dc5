"""Logging in and out of the admin with a user's email and hashed password."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import DataRequired, Length

from admin.security import AdminUser, admin_session
from triage.auth import check_password
from triage.config import DefaultConfig
from triage.tables import User

bp = Blueprint(
    "admin_auth",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/triage-static",
)

MAX_FAILURES = 5
LOCKOUT_SECONDS = 15 * 60
# Failed logins per (email, address) in this worker: a brake on password guessing.
_FAILURES: dict[tuple[str, str], list[float]] = {}
_FAILURES_LOCK = threading.Lock()
# Compared against when the email is unknown, so both cases take the same time.
_DUMMY_HASH = generate_password_hash("not a password of anyone")


class LoginForm(FlaskForm):
    """Email and password, with Flask-WTF's CSRF token."""

    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    next = HiddenField()


class LogoutForm(FlaskForm):
    """Nothing but the CSRF token: logging out is a POST."""


def _safe_next(target: str | None) -> str:
    """Return target when it is a path inside the admin, else the admin home."""
    default = url_for("admin.index")
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin") or "\\" in target:
        return default
    return target


def _recent_failures(key: tuple[str, str], now: float) -> int:
    with _FAILURES_LOCK:
        times = [t for t in _FAILURES.get(key, []) if now - t < LOCKOUT_SECONDS]
        if times:
            _FAILURES[key] = times
        else:
            _FAILURES.pop(key, None)
        return len(times)


def _record_failure(key: tuple[str, str], now: float) -> None:
    with _FAILURES_LOCK:
        if len(_FAILURES) > 10_000:
            _FAILURES.clear()
        _FAILURES.setdefault(key, []).append(now)


def _secret_key_is_default() -> bool:
    app = current_app
    return app.secret_key == DefaultConfig.SECRET_KEY and not (app.testing or app.debug)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form and log the user in when email and password match."""
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm(next=request.args.get("next", ""))
    error = None
    if _secret_key_is_default():
        error = _l("The server has no SECRET_KEY of its own; run 'triage setup' first.")
        return render_template("admin_triage/login.html", form=form, error=error), 503
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        key = (email, request.remote_addr or "")
        now = time.monotonic()
        if _recent_failures(key, now) >= MAX_FAILURES:
            error = _l("Too many failed attempts. Try again in 15 minutes.")
            return render_template("admin_triage/login.html", form=form, error=error), 429
        user = admin_session().scalar(select(User).where(User.email == email))
        if user is None:
            check_password_hash(_DUMMY_HASH, form.password.data)
        elif check_password(user, form.password.data):
            with _FAILURES_LOCK:
                _FAILURES.pop(key, None)
            lang = session.get("lang")
            session.clear()
            if lang:
                session["lang"] = lang
            login_user(AdminUser.from_row(user))
            return redirect(_safe_next(form.next.data))
        _record_failure(key, now)
        error = _l("Unknown email or wrong password.")
        return render_template("admin_triage/login.html", form=form, error=error), 401
    if request.method == "POST":
        error = _l("The form expired or was incomplete; try again.")
        return render_template("admin_triage/login.html", form=form, error=error), 400
    return render_template("admin_triage/login.html", form=form, error=error)


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    """Ask for confirmation (GET) and log out (POST with the CSRF token)."""
    form = LogoutForm()
    if not current_user.is_authenticated:
        return redirect(url_for("admin_auth.login"))
    if form.validate_on_submit():
        logout_user()
        session.clear()
        flash(_l("You are logged out."))
        return redirect(url_for("admin_auth.login"))
    status = 400 if request.method == "POST" else 200
    return render_template("admin_triage/logout.html", form=form), status
