"""The dashboard: open tickets per queue and priority, SLA compliance over 30 days, tickets at
risk now and the active model's correction rate, each from a few aggregate queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from flask_admin import Admin, expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from admin import charts
from admin.security import ALL_ROLES, RoleBaseView, admin_session
from triage import monitoring, sla
from triage.catalog import Catalog
from triage.queues import OPEN_STATUSES, WORKABLE, queue_counts
from triage.serving import active_versions
from triage.tables import Queue, Role, SlaPolicy, Ticket, utcnow

WINDOW_DAYS = 30
AT_RISK_LIMIT = 20
TICKET_ROLES = (Role.ADMIN, Role.AGENT)
MODEL_ROLES = (Role.ADMIN, Role.DATA_STAFF)


@dataclass
class Compliance:
    """How many tickets met or missed one SLA target in the window."""

    met: int = 0
    missed: int = 0

    @property
    def total(self) -> int:
        """Return the number of tickets judged."""
        return self.met + self.missed

    @property
    def rate(self) -> float | None:
        """Return the share met, or None when nothing was judged."""
        return self.met / self.total if self.total else None


@dataclass
class SlaCompliance:
    """First-response and resolution compliance over a window ending now."""

    first_response: Compliance = field(default_factory=Compliance)
    resolution: Compliance = field(default_factory=Compliance)


def sla_compliance(
    s: Session, catalog: Catalog, now: datetime, days: int = WINDOW_DAYS
) -> SlaCompliance:
    """Count met and missed targets of tickets with a policy over the last days, in SQL.

    First response: tickets created in the window, judged once answered (business time used by
    then against the target), once resolved unanswered, or once overdue unanswered. Resolution:
    tickets resolved in the window against the target, plus open tickets overdue in the window.
    Targets are the policies' current ones.
    """
    since = now - timedelta(days=days)
    t = Ticket
    # The policy of the priority for the ticket's tier, else the one for every tier.
    own, every = aliased(SlaPolicy), aliased(SlaPolicy)
    fr_target = func.coalesce(own.first_response_minutes, every.first_response_minutes) * 60
    res_target = func.coalesce(own.resolution_minutes, every.resolution_minutes) * 60
    answered = t.first_response_at.is_not(None)
    fr_known = and_(answered, t.sla_first_response_consumed.is_not(None))
    unanswered_done = and_(~answered, t.resolved_at.is_not(None))
    created = and_(t.created_at >= since, t.created_at <= now)
    resolved = and_(t.resolved_at >= since, t.resolved_at <= now)
    overdue = and_(
        t.status.in_(OPEN_STATUSES), t.resolution_due_at >= since, t.resolution_due_at <= now
    )
    row = s.execute(
        select(
            func.count().filter(created, fr_known, t.sla_first_response_consumed <= fr_target),
            func.count().filter(created, fr_known, t.sla_first_response_consumed > fr_target),
            func.count().filter(created, unanswered_done, t.sla_consumed_seconds <= fr_target),
            func.count().filter(created, unanswered_done, t.sla_consumed_seconds > fr_target),
            func.count().filter(
                created, ~answered, t.resolved_at.is_(None), t.first_response_due_at <= now
            ),
            func.count().filter(resolved, t.sla_consumed_seconds <= res_target),
            func.count().filter(resolved, t.sla_consumed_seconds > res_target),
            func.count().filter(overdue),
        )
        .select_from(t)
        .outerjoin(own, and_(own.priority == t.priority, own.tier == t.customer_tier))
        .outerjoin(every, and_(every.priority == t.priority, every.tier.is_(None)))
        .where(or_(created, resolved, overdue), or_(own.id.is_not(None), every.id.is_not(None)))
    ).one()
    result = SlaCompliance(
        first_response=Compliance(met=row[0] + row[2], missed=row[1] + row[3] + row[4]),
        resolution=Compliance(met=row[5], missed=row[6] + row[7]),
    )
    _answered_while_running(s, catalog, since, now, result.first_response)
    return result


def _answered_while_running(
    s: Session, catalog: Catalog, since: datetime, now: datetime, into: Compliance
) -> None:
    """Judge first responses given while the clock still runs (their time used is not stored).

    Only open tickets never paused since their answer are here, so the rows stay few.
    """
    rows = s.execute(
        select(
            Ticket.priority,
            Ticket.customer_tier,
            Ticket.sla_consumed_seconds,
            Ticket.sla_running_since,
            Ticket.first_response_at,
        ).where(
            Ticket.created_at >= since,
            Ticket.created_at <= now,
            Ticket.first_response_at.is_not(None),
            Ticket.sla_first_response_consumed.is_(None),
            Ticket.sla_running_since.is_not(None),
        )
    )
    for priority, tier, banked, running_since, answered_at in rows:
        policy = catalog.policy_for(priority, tier.value if tier else None)
        if policy is None:
            continue
        used = banked + sla.business_seconds_between(policy.calendar, running_since, answered_at)
        if used <= policy.targets.first_response_seconds:
            into.met += 1
        else:
            into.missed += 1


def at_risk_now(s: Session, now: datetime, limit: int = AT_RISK_LIMIT) -> tuple[int, list[Any]]:
    """Return how many workable tickets are at risk or breached now, and the most urgent few."""
    due = func.coalesce(Ticket.first_response_due_at, Ticket.resolution_due_at)
    where = (Ticket.status.in_(WORKABLE), Ticket.sla_at_risk_at <= now)
    total = s.scalar(select(func.count()).select_from(Ticket).where(*where)) or 0
    rows = s.execute(
        select(
            Ticket.id,
            Ticket.subject,
            Ticket.priority,
            Queue.title.label("queue"),
            Ticket.first_response_due_at,
            Ticket.resolution_due_at,
            Ticket.assignee_id,
        )
        .join(Queue, Queue.id == Ticket.queue_id)
        .where(*where)
        .order_by(due, Ticket.id)
        .limit(limit)
    ).all()
    return total, rows


def model_health(s: Session) -> list[dict[str, Any]]:
    """Return the correction rate of each target's serving version."""
    serving: dict[str, list[str]] = {}
    for target, version in sorted(active_versions(s).items()):
        if version:
            serving.setdefault(version, []).append(target)
    health = []
    for version, targets in serving.items():
        stats = monitoring.version_stats(s, version, targets)["targets"]
        for target in targets:
            figures = stats[target]
            points = [
                (str(d["day"])[5:], d.get("correction_rate")) for d in figures["by_day"][-30:]
            ]
            health.append(
                {
                    "version": version,
                    "target": target,
                    "stats": figures,
                    "chart": charts.line_svg(
                        points, title=_("%(t)s: correction rate per day", t=target), height=160
                    ),
                }
            )
    return health


class DashboardView(RoleBaseView):
    """What each role needs first: queues and SLA for agents, model health for data staff."""

    roles = ALL_ROLES

    @expose("/")
    def index(self) -> str:
        """Show the dashboard blocks the current role needs."""
        s = admin_session()
        now = utcnow()
        catalog = current_app.extensions["triage"].catalog.get(s, now)
        role = current_user.role
        counts = queue_counts(s, catalog)
        priorities = list(catalog.priorities)
        queue_chart = charts.stacked_bars_svg(
            [c.queue.title for c in counts],
            {p: [c.by_priority.get(p, 0) for c in counts] for p in priorities},
            title=_("Open tickets per queue and priority"),
        )
        context: dict[str, Any] = {
            "now": now,
            "counts": counts,
            "priorities": priorities,
            "queue_chart": queue_chart,
            "compliance": sla_compliance(s, catalog, now),
            "window_days": WINDOW_DAYS,
            "show_tickets": role in TICKET_ROLES,
            "show_model": role in MODEL_ROLES,
        }
        if role in TICKET_ROLES:
            context["at_risk_total"], context["at_risk"] = at_risk_now(s, now)
        context["models"] = model_health(s)
        return self.render("dashboard/index.html", **context)


def add_views(admin: Admin, app: Flask) -> None:
    """Add the dashboard to the admin."""
    admin.add_view(DashboardView(name=_l("Dashboard"), endpoint="dashboard", url="dashboard"))
