"""The Flask-Admin UI of triage, built per app by init_admin(app)."""

from __future__ import annotations

import secrets

from flask import Flask, g, request
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from admin.i18n import init_i18n
from admin.security import RoleIndexView, login_manager

ADMIN_URL = "/admin"


def csp_nonce() -> str:
    """Return this request's nonce for the admin's script and style tags."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def _security_headers(response):
    """Add the admin's security headers to every admin response."""
    if not request.path.startswith(ADMIN_URL):
        return response
    nonce = csp_nonce()
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        f"style-src 'self' 'nonce-{nonce}'; "
        "img-src 'self' data:; font-src 'self'; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_admin(app: Flask) -> Admin:
    """Build the admin for app: login, languages, security headers and every view."""
    from admin import auth_views, config_views, dashboard, model_views, tickets

    login_manager.init_app(app)
    init_i18n(app)
    app.register_blueprint(auth_views.bp)
    admin = Admin(
        app,
        name="triage",
        url=ADMIN_URL,
        index_view=RoleIndexView(url=ADMIN_URL, template="admin_triage/index.html"),
        theme=Bootstrap4Theme(base_template="admin_triage/base.html", fluid=True),
        csp_nonce_generator=csp_nonce,
    )
    dashboard.add_views(admin, app)
    tickets.add_views(admin)
    config_views.add_views(admin)
    model_views.add_views(admin, app)
    app.after_request(_security_headers)
    return admin
