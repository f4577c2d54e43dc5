"""Tickets in the admin: the working list, the decision behind each ticket, corrections, bulk."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Response, abort, current_app, flash, redirect, request, url_for
from flask_admin import Admin, expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session
from wtforms import SelectChoice, SelectField, SelectMultipleField, TextAreaField
from wtforms.validators import DataRequired, Length

from admin.csv_export import csv_response
from admin.security import ALL_ROLES, RoleBaseView, admin_session, current_actor, current_role
from triage import sla
from triage.catalog import Catalog
from triage.errors import ApiError
from triage.schemas import TicketPatch
from triage.tables import Role, SlaState, Status, Ticket, User, utcnow
from triage.tickets import get_ticket, ticket_clock, update_ticket

PAGE_SIZE = 50
EXPORT_MAX_ROWS = 100_000
WORKERS = (Role.ADMIN, Role.AGENT)
SORTS = {
    "due": "SLA due time, soonest first",
    "-created": "newest first",
    "created": "oldest first",
}
# The list reads these columns only: descriptions and decision records stay in the database.
LIST_COLUMNS = (
    Ticket.id,
    Ticket.subject,
    Ticket.requester,
    Ticket.status,
    Ticket.priority,
    Ticket.category,
    Ticket.queue_id,
    Ticket.assignee_id,
    Ticket.sla_state,
    Ticket.resolution_due_at,
    Ticket.needs_review,
    Ticket.priority_human_set,
    Ticket.category_human_set,
    Ticket.created_at,
)


def catalog_now(s: Session) -> Catalog:
    """Return the shared configuration snapshot (queues, priorities, SLA policies)."""
    return current_app.extensions["triage"].catalog.get(s, utcnow())


@dataclass(frozen=True)
class ListFilters:
    """The ticket list's filters, search and order as given in the query string."""

    queue: str = ""
    status: str = ""
    priority: str = ""
    category: str = ""
    sla_state: str = ""
    needs_review: str = ""
    human_set: str = ""
    q: str = ""
    sort: str = "-created"
    page: int = 1

    @classmethod
    def from_args(cls, args: Any) -> ListFilters:
        """Read the filters from request.args, dropping values that cannot be valid."""

        def one(name: str, allowed: Any = None) -> str:
            value = (args.get(name) or "").strip()[:200]
            return value if allowed is None or value in allowed else ""

        page = args.get("page", "1")
        return cls(
            queue=one("queue"),
            status=one("status", {s.value for s in Status}),
            priority=one("priority"),
            category=one("category"),
            sla_state=one("sla_state", {s.value for s in SlaState}),
            needs_review=one("needs_review", {"yes", "no"}),
            human_set=one("human_set", {"yes", "no"}),
            q=one("q"),
            sort=one("sort", SORTS) or "-created",
            page=min(int(page), 10_000) if page.isdigit() and int(page) > 0 else 1,
        )

    def args(self, **changes: Any) -> dict[str, Any]:
        """Return the non-empty filters as query arguments, with changes applied."""
        data = {k: v for k, v in self.__dict__.items() if v not in ("", None)}
        data.update(changes)
        return {k: v for k, v in data.items() if v not in ("", None)}


def filtered(stmt: Select, f: ListFilters, catalog: Catalog) -> Select:
    """Apply the list's filters and search to a select of tickets."""
    if f.queue:
        queue = catalog.queues.get(f.queue)
        stmt = stmt.where(Ticket.queue_id == (queue.id if queue else -1))
    if f.status:
        stmt = stmt.where(Ticket.status == Status(f.status))
    if f.priority:
        stmt = stmt.where(Ticket.priority == f.priority)
    if f.category:
        stmt = stmt.where(Ticket.category == f.category)
    if f.sla_state:
        stmt = stmt.where(Ticket.sla_state == SlaState(f.sla_state))
    if f.needs_review:
        stmt = stmt.where(Ticket.needs_review.is_(f.needs_review == "yes"))
    if f.human_set == "yes":
        stmt = stmt.where(or_(Ticket.priority_human_set, Ticket.category_human_set))
    elif f.human_set == "no":
        stmt = stmt.where(~Ticket.priority_human_set, ~Ticket.category_human_set)
    if f.q:
        stmt = stmt.where(
            or_(
                Ticket.subject.icontains(f.q, autoescape=True),
                Ticket.description.icontains(f.q, autoescape=True),
                Ticket.requester.icontains(f.q, autoescape=True),
            )
        )
    return stmt


def ordered(stmt: Select, sort: str) -> Select:
    """Order a select of tickets by the chosen sort (ties broken by id)."""
    if sort == "due":
        return stmt.order_by(Ticket.resolution_due_at.asc().nulls_last(), Ticket.id)
    if sort == "created":
        return stmt.order_by(Ticket.id.asc())
    return stmt.order_by(Ticket.id.desc())


def user_names(s: Session) -> dict[int, str]:
    """Return every active user's id and display name (for assignee columns and choices)."""
    rows = s.execute(select(User.id, User.name, User.email).where(User.active).order_by(User.name))
    return {r.id: f"{r.name} <{r.email}>" for r in rows}


class CorrectionForm(FlaskForm):
    """An agent's correction of one ticket; only the fields that change are sent on."""

    priority = SelectField(_l("Priority"))
    category = SelectField(_l("Category"))
    queue = SelectField(_l("Queue"))
    status = SelectField(_l("Status"))
    assignee_id = SelectField(_l("Assignee"))
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])


class BulkForm(FlaskForm):
    """One change applied to many tickets, each through the same correction path."""

    ids = SelectMultipleField(_l("Tickets"), validators=[DataRequired()])
    action = SelectField(
        _l("Action"),
        choices=[
            SelectChoice("assign", _l("Assign to")),
            SelectChoice("queue", _l("Move to queue")),
        ],
    )
    assignee_id = SelectField(_l("Assignee"))
    queue = SelectField(_l("Queue"))
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])


def options(pairs: Any) -> list[SelectChoice]:
    """Return select options from (value, label) pairs."""
    return [SelectChoice(str(value), str(label)) for value, label in pairs]


def _choices(form: FlaskForm, catalog: Catalog, users: dict[int, str]) -> None:
    if hasattr(form, "priority"):
        form.priority.choices = options((p, p) for p in catalog.priorities)
    if hasattr(form, "category"):
        categories = sorted(catalog.category_queue)
        form.category.choices = options([("", "—")] + [(c, c) for c in categories])
    form.queue.choices = options((q.name, q.title) for q in catalog.queues.values())
    if hasattr(form, "status"):
        form.status.choices = options((s.value, s.value) for s in Status)
    form.assignee_id.choices = options([("", _("nobody"))] + list(users.items()))


def _patch_from_form(form: CorrectionForm, ticket: Ticket) -> TicketPatch:
    """Return the patch of the fields the form changes (the API PATCH body it amounts to)."""
    data: dict[str, Any] = {"reason": form.reason.data}
    if form.priority.data != ticket.priority:
        data["priority"] = form.priority.data
    if form.category.data and form.category.data != ticket.category:
        data["category"] = form.category.data
    if form.queue.data != ticket.queue.name:
        data["queue"] = form.queue.data
    if form.status.data != ticket.status.value:
        data["status"] = form.status.data
    assignee = int(form.assignee_id.data) if form.assignee_id.data else None
    if assignee != ticket.assignee_id:
        data["assignee_id"] = assignee
    return TicketPatch.model_validate(data)


def sla_clock_view(ticket: Ticket, catalog: Catalog, now: datetime) -> dict[str, Any]:
    """Return what the detail page shows of the SLA clock: policy, time used, targets, state."""
    policy = catalog.policy_for(
        ticket.priority, ticket.customer_tier.value if ticket.customer_tier else None
    )
    clock = ticket_clock(ticket)
    info: dict[str, Any] = {
        "policy": policy.name if policy else None,
        "calendar": policy.calendar_name if policy else None,
        "running": clock.running_since is not None,
        "state": ticket.sla_state.value,
        "first_response_due_at": ticket.first_response_due_at,
        "resolution_due_at": ticket.resolution_due_at,
        "first_response_at": ticket.first_response_at,
        "resolved_at": ticket.resolved_at,
    }
    if policy is not None:
        used = sla.consumed(clock, policy.calendar, now)
        info["used_minutes"] = round(used / 60, 1)
        info["first_response_minutes"] = round(policy.targets.first_response_seconds / 60)
        info["resolution_minutes"] = round(policy.targets.resolution_seconds / 60)
        info["used_percent"] = min(100, round(100 * used / policy.targets.resolution_seconds))
    return info


class TicketView(RoleBaseView):
    """The ticket list, a ticket's detail with its decision, corrections and bulk changes."""

    roles = ALL_ROLES

    @expose("/")
    def index_view(self) -> Any:
        """List tickets with filters, search and SLA order, one page at a time."""
        s = admin_session()
        catalog = catalog_now(s)
        f = ListFilters.from_args(request.args)
        stmt = ordered(filtered(select(*LIST_COLUMNS), f, catalog), f.sort)
        rows = s.execute(stmt.offset((f.page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
        has_next = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        total = None
        if request.args.get("count") == "1":
            total = s.scalar(filtered(select(func.count(Ticket.id)), f, catalog))
        users = user_names(s)
        can_change = current_role() in WORKERS
        bulk = BulkForm()
        _choices(bulk, catalog, users)
        return self.render(
            "admin_triage/ticket_list.html",
            rows=rows,
            f=f,
            sorts=SORTS,
            has_next=has_next,
            total=total,
            catalog=catalog,
            queues_by_id=catalog.queues_by_id,
            users=users,
            statuses=[st.value for st in Status],
            sla_states=[st.value for st in SlaState],
            can_change=can_change,
            bulk=bulk,
            now=utcnow(),
        )

    @expose("/export.csv")
    def export_view(self) -> Response:
        """Download the filtered list as CSV (at most EXPORT_MAX_ROWS rows, formulas defused)."""
        s = admin_session()
        catalog = catalog_now(s)
        f = ListFilters.from_args(request.args)
        stmt = ordered(filtered(select(*LIST_COLUMNS), f, catalog), f.sort).limit(EXPORT_MAX_ROWS)
        header = [
            "id",
            "subject",
            "requester",
            "status",
            "priority",
            "category",
            "queue",
            "assignee_id",
            "sla_state",
            "resolution_due_at",
            "needs_review",
            "created_at",
        ]

        def rows() -> Any:
            try:
                yield from _export_rows(s.execute(stmt.execution_options(yield_per=2000)))
            finally:
                # Free the server-side cursor and its transaction as soon as the last row is out,
                # not when the client gets round to closing the response.
                s.close()

        def _export_rows(result: Any) -> Any:
            for r in result:
                queue = catalog.queues_by_id.get(r.queue_id)
                yield [
                    r.id,
                    r.subject,
                    r.requester,
                    r.status.value,
                    r.priority,
                    r.category,
                    queue.name if queue else r.queue_id,
                    r.assignee_id,
                    r.sla_state.value,
                    r.resolution_due_at.isoformat() if r.resolution_due_at else "",
                    "yes" if r.needs_review else "no",
                    r.created_at.isoformat(),
                ]

        return csv_response("tickets.csv", header, rows())

    @expose("/<int:ticket_id>/", methods=("GET", "POST"))
    def details_view(self, ticket_id: int) -> Any:
        """Show a ticket's decision, SLA clock and history; POST applies a correction."""
        s = admin_session()
        catalog = catalog_now(s)
        try:
            ticket = get_ticket(s, ticket_id, with_events=True)
        except ApiError:
            abort(404)
        users = user_names(s)
        form = CorrectionForm(
            data={
                "priority": ticket.priority,
                "category": ticket.category or "",
                "queue": ticket.queue.name,
                "status": ticket.status.value,
                "assignee_id": str(ticket.assignee_id or ""),
            }
            if request.method == "GET"
            else None
        )
        _choices(form, catalog, users)
        status = 200
        if request.method == "POST":
            if current_role() not in WORKERS:
                abort(403)
            if form.validate_on_submit():
                try:
                    patch = _patch_from_form(form, ticket)
                    now = utcnow()
                    update_ticket(s, ticket, patch, actor=current_actor(), catalog=catalog, now=now)
                    s.commit()
                    flash(_("Ticket %(id)s changed.", id=ticket_id), "success")
                    return redirect(url_for(".details_view", ticket_id=ticket_id))
                except ApiError as exc:
                    s.rollback()
                    form.form_errors.append(exc.message)
                    for name, problem in (exc.fields or {}).items():
                        if hasattr(form, name):
                            getattr(form, name).errors = [problem]
                    status = exc.status
                    ticket = get_ticket(s, ticket_id, with_events=True)
            else:
                status = 400
        return (
            self.render(
                "admin_triage/ticket_detail.html",
                ticket=ticket,
                decision=ticket.decision or {},
                clock=sla_clock_view(ticket, catalog, utcnow()),
                events=ticket.events,
                form=form,
                users=users,
                can_change=current_role() in WORKERS,
            ),
            status,
        )

    @expose("/bulk", methods=("POST",))
    def bulk_view(self) -> Any:
        """Assign many tickets or move them to a queue; all change or none does."""
        if current_role() not in WORKERS:
            abort(403)
        s = admin_session()
        catalog = catalog_now(s)
        form = BulkForm()
        _choices(form, catalog, user_names(s))
        form.ids.choices = options((i, i) for i in request.form.getlist("ids") if i.isdigit())
        back = request.form.get("back") or ""
        target = back if back.startswith("/admin/tickets/") else url_for(".index_view")
        if not form.validate_on_submit():
            flash(_("Choose tickets, an action and give a reason."), "error")
            return redirect(target)
        if form.action.data == "assign":
            value: dict[str, Any] = {
                "assignee_id": int(form.assignee_id.data) if form.assignee_id.data else None
            }
        else:
            value = {"queue": form.queue.data}
        patch = TicketPatch.model_validate({**value, "reason": form.reason.data})
        now = utcnow()
        changed = 0
        try:
            for ticket_id in sorted({int(i) for i in form.ids.data}):
                ticket = get_ticket(s, ticket_id)
                events = update_ticket(
                    s, ticket, patch, actor=current_actor(), catalog=catalog, now=now
                )
                changed += bool(events)
        except ApiError as exc:
            s.rollback()
            flash(_("Nothing changed: %(problem)s", problem=exc.message), "error")
            return redirect(target)
        s.commit()
        flash(_("%(n)s tickets changed.", n=changed), "success")
        return redirect(target)


def add_views(admin: Admin) -> None:
    """Add the ticket views to admin."""
    admin.add_view(
        TicketView(name=_l("Tickets"), endpoint="tickets", url="tickets", menu_icon_type=None)
    )
