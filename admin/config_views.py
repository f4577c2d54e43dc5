"""Configuration in the admin: queues, SLA policies, calendars, customers and users."""

from __future__ import annotations

from typing import Any

from flask_admin import Admin
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.security import generate_password_hash
from wtforms import PasswordField, SelectField, ValidationError
from wtforms.validators import Optional

from admin.security import RoleModelView, admin_session
from admin.tickets import options
from triage.sla import BusinessCalendar
from triage.tables import (
    BusinessCalendarRow,
    Customer,
    Queue,
    Role,
    SlaPolicy,
    Tier,
    User,
    utcnow,
)

CONFIG = _l("Configuration")
ACCESS = _l("Access")
MIN_PASSWORD = 10


def enum_select(enum: Any, *, optional: bool = False) -> dict[str, Any]:
    """Return form_args for a select of an enum's values (WTForms' current choice objects)."""
    pairs = [(m.value, m.value) for m in enum]
    return {
        "choices": options(([("", "—")] if optional else []) + pairs),
        "coerce": lambda v: enum(v) if v else None,
    }


class QueueView(RoleModelView):
    """Queues tickets are routed to."""

    can_delete = False  # tickets and categories point at queues; rename instead
    column_list = ("name", "title", "is_triage", "created_at")
    form_columns = ("name", "title", "description", "is_triage")
    column_searchable_list = ("name", "title")


class SlaPolicyView(RoleModelView):
    """First-response and resolution targets per priority (and tier)."""

    can_delete = False
    column_list = (
        "name",
        "priority",
        "tier",
        "first_response_minutes",
        "resolution_minutes",
        "at_risk_fraction",
        "calendar",
    )
    form_columns = (*column_list, "escalation")
    form_overrides = {"tier": SelectField}
    form_args = {"tier": enum_select(Tier, optional=True)}

    def on_model_change(self, form: Any, model: SlaPolicy, is_created: bool) -> None:
        """Refuse targets a clock cannot use."""
        if model.first_response_minutes <= 0 or model.resolution_minutes <= 0:
            raise ValidationError(str(_l("Targets must be positive minutes.")))
        if not 0 < model.at_risk_fraction < 1:
            raise ValidationError(str(_l("The at-risk fraction must be between 0 and 1.")))
        from triage.catalog import load_catalog

        if model.priority not in load_catalog(admin_session(), utcnow()).priorities:
            raise ValidationError(str(_l("Unknown priority.")))


class CalendarView(RoleModelView):
    """Business calendars: working hours per weekday, time zone, holidays."""

    can_delete = False
    column_list = ("name", "timezone", "holiday_country", "holiday_subdivision")
    form_columns = (
        "name",
        "timezone",
        "hours",
        "holiday_country",
        "holiday_subdivision",
        "custom_holidays",
    )
    form_args = {
        "hours": {"description": _l('e.g. {"mon": [["09:00", "18:00"]], "tue": ...}')},
        "custom_holidays": {"description": _l('e.g. ["2026-12-24", "2026-12-31"]')},
    }

    def on_model_change(self, form: Any, model: BusinessCalendarRow, is_created: bool) -> None:
        """Refuse a calendar the SLA arithmetic cannot build."""
        try:
            BusinessCalendar.from_config(
                timezone=model.timezone,
                hours=model.hours or {},
                country=model.holiday_country or None,
                subdivision=model.holiday_subdivision or None,
                custom_holidays=model.custom_holidays or [],
                years=[utcnow().year],
            )
        except (ValueError, TypeError, KeyError, NotImplementedError) as exc:
            raise ValidationError(str(exc)) from exc


class CustomerView(RoleModelView):
    """Customers and their subscription tiers."""

    can_delete = False
    column_list = ("name", "tier", "created_at")
    form_columns = ("name", "tier")
    form_overrides = {"tier": SelectField}
    form_args = {"tier": enum_select(Tier)}
    column_searchable_list = ("name",)
    column_filters = ("tier",)


class UserView(RoleModelView):
    """People who log in to the admin; passwords are set here and never shown."""

    can_delete = False  # deactivate instead: events name users
    column_list = ("email", "name", "role", "active", "locale", "created_at")
    column_searchable_list = ("email", "name")
    column_filters = ("role", "active")
    form_columns = ("email", "name", "role", "active", "locale")
    form_overrides = {"role": SelectField, "locale": SelectField}
    form_args = {
        "role": enum_select(Role),
        "locale": {
            "choices": options([("", "—"), ("en", "English"), ("pt_BR", "Português (Brasil)")]),
            "coerce": lambda v: v or None,
        },
    }
    form_excluded_columns = ("password_hash",)
    column_details_exclude_list = ("password_hash",)
    column_export_exclude_list = ("password_hash",)

    def scaffold_form(self) -> Any:
        """Add a write-only password field to the generated form."""
        form_class = super().scaffold_form()
        form_class.new_password = PasswordField(
            _l("New password"),
            validators=[Optional()],
            description=_l("At least 10 characters; leave empty to keep the current one."),
        )
        return form_class

    def on_model_change(self, form: Any, model: User, is_created: bool) -> None:
        """Hash a new password; a new user must get one."""
        password = form.new_password.data or ""
        if password and len(password) < MIN_PASSWORD:
            raise ValidationError(str(_l("A password needs at least 10 characters.")))
        if is_created and not password:
            raise ValidationError(str(_l("A new user needs a password.")))
        model.email = model.email.strip().lower()
        s = admin_session()
        with s.no_autoflush:  # the new row has no password hash yet
            clash = s.scalar(
                select(User.id).where(User.email == model.email, User.id != (model.id or -1))
            )
        if clash is not None:
            raise ValidationError(str(_l("Another user has this email.")))
        if password:
            model.password_hash = generate_password_hash(password)


def add_views(admin: Admin) -> None:
    """Add the configuration views to admin."""
    from admin import api_keys_view, rules_view

    admin.add_view(QueueView(Queue, name=_l("Queues"), category=CONFIG, endpoint="queues"))
    admin.add_view(
        SlaPolicyView(SlaPolicy, name=_l("SLA policies"), category=CONFIG, endpoint="sla_policies")
    )
    admin.add_view(
        CalendarView(
            BusinessCalendarRow,
            name=_l("Business calendars"),
            category=CONFIG,
            endpoint="calendars",
        )
    )
    rules_view.add_views(admin, CONFIG)
    admin.add_view(
        CustomerView(Customer, name=_l("Customers"), category=CONFIG, endpoint="customers")
    )
    admin.add_view(UserView(User, name=_l("Users"), category=ACCESS, endpoint="users"))
    api_keys_view.add_views(admin, ACCESS)
