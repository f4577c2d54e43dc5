"""Who may see what in the admin: logins, roles checked on the server, CSRF forms, the session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import abort, current_app, redirect, request, url_for
from flask_admin import AdminIndexView, BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.form import SecureForm
from flask_login import LoginManager, UserMixin, current_user
from sqlalchemy.orm import Session

from triage import db
from triage.tables import Role, User
from triage.tickets import Actor

ALL_ROLES: tuple[Role, ...] = (Role.ADMIN, Role.AGENT, Role.DATA_STAFF)
LOGIN_ENDPOINT = "admin_auth.login"

login_manager = LoginManager()
login_manager.login_view = LOGIN_ENDPOINT
# Refuse a session cookie replayed from another client address/agent (Flask-Login's check).
login_manager.session_protection = "strong"


@dataclass(frozen=True)
class AdminUser(UserMixin):
    """The logged-in person as the admin sees them (a plain copy, not a database row)."""

    id: int
    email: str
    name: str
    role: Role
    locale: str | None
    # Part of the session id, so a changed password ends the sessions opened before it.
    password_marker: str

    def get_id(self) -> str:
        """Return what Flask-Login stores in the session: id and password marker."""
        return f"{self.id}:{self.password_marker}"

    @classmethod
    def from_row(cls, user: User) -> AdminUser:
        """Copy what the admin needs from a users row."""
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            role=user.role,
            locale=user.locale,
            password_marker=user.password_hash[-12:],
        )


@login_manager.user_loader
def _load_user(session_id: str) -> AdminUser | None:
    user_id, _, marker = session_id.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session().get(User, int(user_id))
    if user is None or not user.active or user.password_hash[-12:] != marker:
        return None
    return AdminUser.from_row(user)


def current_role() -> Role | None:
    """Return the role of the logged-in user, or None for an anonymous visitor."""
    if not current_user.is_authenticated:
        return None
    return current_user.role


def admin_session() -> Session:
    """Return the SQLAlchemy session of the current request (closed on teardown)."""
    return db.session()


def current_actor() -> Actor:
    """Return the actor events name for the logged-in user, as the API does for a user's key."""
    if not current_user.is_authenticated:
        raise RuntimeError("current_actor() needs a logged-in user")
    return Actor(f"user:{current_user.id}", current_user.id)


class RequestSession:
    """Stand-in for a session that forwards to the current request's session.

    Flask-Admin keeps the session it is given for the life of the view; views outlive requests
    and apps in tests, so every attribute is looked up on `db.session()` at the time of use.
    """

    # Present so Flask-Admin takes this for a db object and does not warn about a bare session;
    # it reads `.session` only from Flask-SQLAlchemy objects, so every use goes to __getattr__.
    session: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # introspection (hasattr, copy, pickle) must not need a request
            raise AttributeError(name)
        return getattr(db.session(), name)


REQUEST_SESSION = RequestSession()


class RoleAccess:
    """Mixin: the view is open only to logged-in users whose role is in `roles`."""

    roles: tuple[Role, ...] = (Role.ADMIN,)

    def is_accessible(self) -> bool:
        """Tell whether the current user may use this view (checked on every request)."""
        role = current_role()
        return role is not None and role in self.roles

    def is_visible(self) -> bool:
        """Show the view in the menu only to those who may open it."""
        return self.is_accessible()

    def inaccessible_callback(self, name: Any, **kwargs: Any) -> Any:
        """Send anonymous visitors to the login page; refuse other roles with 403."""
        if not current_user.is_authenticated:
            return redirect(url_for(LOGIN_ENDPOINT, next=request.full_path))
        abort(403)


class RoleModelView(RoleAccess, ModelView):
    """A Flask-Admin model view behind a role, with CSRF-protected forms on the request session."""

    form_base_class = SecureForm
    can_set_page_size = True
    page_size = 50

    def __init__(self, model: type, session: Any = None, **kwargs: Any) -> None:
        super().__init__(model, session if session is not None else REQUEST_SESSION, **kwargs)


class RoleBaseView(RoleAccess, BaseView):
    """A custom admin page behind a role."""


class RoleIndexView(RoleAccess, AdminIndexView):
    """The admin home, open to every role; it sends each role to its first page."""

    roles = ALL_ROLES

    # The first of these endpoints that exists and that the user may open is their home page.
    home_endpoints: tuple[str, ...] = ("dashboard.index", "tickets.index_view")

    @expose("/")
    def index(self) -> Any:
        """Send the user to the dashboard when there is one they may see, else to the tickets."""
        for endpoint in self.home_endpoints:
            view = _view_of(endpoint)
            if view is not None and view.is_accessible():
                return redirect(url_for(endpoint))
        return self.render(self._template)


def _view_of(endpoint: str) -> Any:
    """Return the admin view that serves endpoint, or None."""
    if endpoint not in current_app.view_functions:
        return None
    blueprint = endpoint.rpartition(".")[0]
    for admin in current_app.extensions.get("admin", []):
        for view in admin._views:
            if view.endpoint == blueprint:
                return view
    return None
