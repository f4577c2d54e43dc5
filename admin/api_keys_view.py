"""API keys in the admin: create one (its plain key is shown once, on that page) and revoke."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import Admin, expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from admin.security import RoleBaseView, admin_session
from admin.tickets import options
from triage.auth import create_api_key, revoke_api_key
from triage.tables import ApiKey, Role, Scope, User, utcnow


class ApiKeyForm(FlaskForm):
    """A new key: who uses it, its scope and, for agents, the user it acts for."""

    name = StringField(_l("Used by"), validators=[DataRequired(), Length(max=120)])
    scope = SelectField(_l("Scope"))
    user_id = SelectField(_l("Acts for user"))


class ApiKeyView(RoleBaseView):
    """List, create and revoke API keys; only the key's prefix is ever listed (admins only)."""

    roles = (Role.ADMIN,)

    def _form(self) -> ApiKeyForm:
        form = ApiKeyForm()
        form.scope.choices = options((sc.value, sc.value) for sc in Scope)
        users = admin_session().execute(select(User.id, User.email).order_by(User.email))
        form.user_id.choices = options([("", "—")] + [(u.id, u.email) for u in users])
        return form

    def _page(self, form: ApiKeyForm, plain: str | None = None, status: int = 200) -> Any:
        rows = (
            admin_session()
            .scalars(select(ApiKey).options(joinedload(ApiKey.user)).order_by(ApiKey.id.desc()))
            .all()
        )
        revoke = FlaskForm()
        return (
            self.render(
                "admin_triage/api_keys.html", rows=rows, form=form, plain=plain, revoke=revoke
            ),
            status,
        )

    @expose("/", methods=("GET", "POST"))
    def index_view(self) -> Any:
        """List keys; POST creates one and shows its plain key in this response only."""
        form = self._form()
        if request.method == "POST":
            if not form.validate_on_submit():
                return self._page(form, status=400)
            s = admin_session()
            user = s.get(User, int(form.user_id.data)) if form.user_id.data else None
            _row, plain = create_api_key(
                s, name=form.name.data.strip(), scope=Scope(form.scope.data), user=user
            )
            s.commit()
            return self._page(self._form(), plain=plain, status=201)
        return self._page(form)

    @expose("/<int:key_id>/revoke", methods=("POST",))
    def revoke_view(self, key_id: int) -> Any:
        """Revoke a key (CSRF-checked); every worker refuses it within CATALOG_TTL_SECONDS."""
        if not FlaskForm().validate_on_submit():
            abort(400)
        s = admin_session()
        row = revoke_api_key(s, key_id, now=utcnow())
        if row is None:
            abort(404)
        s.commit()
        flash(_("API key %(name)s revoked.", name=row.name), "success")
        return redirect(url_for(".index_view"))


def add_views(admin: Admin, category: Any) -> None:
    """Add the API key view to admin."""
    admin.add_view(
        ApiKeyView(name=_l("API keys"), category=category, endpoint="api_keys", url="api-keys")
    )
