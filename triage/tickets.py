"""Tickets: create from intake, change by agents, list; every triage-field change is an event."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, make_transient_to_detached, selectinload

from triage import metrics, sla
from triage.catalog import Catalog
from triage.decision import TicketFacts
from triage.errors import ApiError
from triage.schemas import DecisionOut, TicketInput, TicketPatch, TicketQuery
from triage.tables import (
    MAX_ID,
    Customer,
    Queue,
    SlaState,
    Status,
    Ticket,
    TicketEvent,
    Tier,
    User,
)

# The one table of allowed status changes; closed tickets no longer change.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.OPEN, Status.PENDING, Status.RESOLVED, Status.CLOSED}),
    Status.OPEN: frozenset({Status.PENDING, Status.RESOLVED, Status.CLOSED}),
    Status.PENDING: frozenset({Status.OPEN, Status.RESOLVED, Status.CLOSED}),
    Status.RESOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}


@dataclass(frozen=True)
class Actor:
    """Who makes a change and how events name them."""

    name: str
    user_id: int | None = None

    @property
    def source(self) -> str:
        """Return the event source of a person's change."""
        return f"agent:{self.user_id}" if self.user_id else f"agent:{self.name}"


def request_hash(data: TicketInput) -> str:
    """Fingerprint an intake body so a reused Idempotency-Key with another body is caught."""
    return hashlib.sha256(data.model_dump_json().encode("utf-8")).hexdigest()


def resolve_customer(
    s: Session, name: str | None, tier: Tier | None
) -> tuple[Customer | None, Tier | None]:
    """Find or create the named customer and return it with the tier that applies."""
    if not name:
        return None, tier
    customer = s.scalar(select(Customer).where(Customer.name == name))
    if customer is None:
        try:
            with s.begin_nested():
                customer = Customer(name=name, tier=tier or Tier.STANDARD)
                s.add(customer)
        except IntegrityError:
            customer = s.scalar(select(Customer).where(Customer.name == name))
    assert customer is not None
    return customer, tier or customer.tier


def facts_for(data: TicketInput, tier: Tier | None) -> TicketFacts:
    """Return what the decision needs from an intake body."""
    return TicketFacts(
        subject=data.subject,
        description=data.description,
        customer=data.customer,
        tier=tier.value if tier else None,
        channel=data.channel.value,
        stated_urgency=data.stated_urgency.value if data.stated_urgency else None,
        impact=data.impact.value if data.impact else None,
        language=data.language,
    )


def find_idempotent(s: Session, api_key_id: int, key: str) -> tuple[int, str | None] | None:
    """Return (id, request hash) of the ticket an earlier request with this key created, if any.

    Two columns, not the ticket: nearly every key is new, and loading a whole row as an object
    to learn that cost a ticket creation a tenth of its time.
    """
    row = s.execute(
        select(Ticket.id, Ticket.request_hash).where(
            Ticket.api_key_id == api_key_id, Ticket.idempotency_key == key
        )
    ).first()
    return None if row is None else (row[0], row[1])


_INSERT_TICKET = insert(Ticket.__table__).returning(Ticket.__table__.c.id)
_INSERT_EVENTS = insert(TicketEvent.__table__).returning(
    TicketEvent.__table__.c.id, sort_by_parameter_order=True
)


def create_ticket(
    s: Session,
    data: TicketInput,
    decision: DecisionOut,
    *,
    tier: Tier | None,
    customer: Customer | None,
    queue_id: int,
    actor: str,
    api_key_id: int | None,
    idempotency_key: str | None,
    body_hash: str,
    now: datetime,
) -> Ticket:
    """Store a decided ticket with its first events (the caller commits).

    Two INSERT statements (the ticket, then its events in one statement) instead of the ORM's
    unit of work, which cost a creation twice the CPU of the statements themselves. The ticket
    comes back attached to the session with its events, as a query would have loaded it.
    A reused (api_key_id, idempotency_key) raises IntegrityError here.
    """
    row = {
        "subject": data.subject,
        "description": data.description,
        "requester": data.requester,
        "customer_id": customer.id if customer else None,
        "customer_tier": tier,
        "channel": data.channel,
        "language": decision.language,
        "stated_urgency": data.stated_urgency,
        "impact": data.impact,
        "status": Status.NEW,
        "priority": decision.priority.value,
        "category": decision.category.value,
        "queue_id": queue_id,
        "assignee_id": None,
        "tags": list(decision.tags),
        "needs_review": decision.needs_review,
        "priority_source": decision.priority.source,
        "category_source": decision.category.source if decision.category.value else None,
        "queue_source": decision.queue.source,
        "priority_confidence": decision.priority.confidence,
        "category_confidence": decision.category.confidence,
        "priority_human_set": False,
        "category_human_set": False,
        "model_version": _model_version(decision),
        "decision": decision.model_dump(mode="json"),
        "api_key_id": api_key_id,
        "idempotency_key": idempotency_key,
        "request_hash": body_hash,
        "created_at": now,
        "updated_at": now,
        "first_response_at": None,
        "resolved_at": None,
        "closed_at": None,
        "sla_policy_id": None,
        "sla_consumed_seconds": 0.0,
        "sla_running_since": now,
        "sla_first_response_consumed": None,
        "first_response_due_at": decision.sla.first_response_due_at,
        "resolution_due_at": decision.sla.resolution_due_at,
        "sla_state": SlaState.OK,
        "sla_at_risk_at": decision.sla.at_risk_at,
    }
    ticket_id = s.execute(_INSERT_TICKET, row).scalar_one()
    events = [
        {
            "ticket_id": ticket_id,
            "at": now,
            "field": field,
            "old_value": None,
            "new_value": None if value is None else str(value),
            "actor": actor,
            "source": source,
            "reason": "; ".join(decision.review_reasons) if field == "needs_review" else None,
            # The version whose prediction this was, even when a rule overrode it.
            "model_version": decision.model_versions.get(field) if predicted else None,
            "confidence": confidence,
            "predicted_value": predicted,
            "is_correction": False,
        }
        for field, value, source, confidence, predicted in (
            ("status", Status.NEW.value, "intake", None, None),
            (
                "priority",
                decision.priority.value,
                decision.priority.source,
                decision.priority.confidence,
                decision.priority.model_label,
            ),
            (
                "category",
                decision.category.value,
                decision.category.source,
                decision.category.confidence,
                decision.category.model_label,
            ),
            ("queue", decision.queue.name, decision.queue.source, None, None),
            ("needs_review", str(decision.needs_review).lower(), "intake", None, None),
        )
    ]
    event_ids = s.execute(_INSERT_EVENTS, events).scalars().all()
    ticket = Ticket(id=ticket_id, **row)
    ticket.customer = customer
    ticket.events = [
        TicketEvent(id=event_id, **event) for event_id, event in zip(event_ids, events, strict=True)
    ]
    # Known to be in the database as they are: attached as loaded, nothing left to flush.
    for obj in (ticket, *ticket.events):
        make_transient_to_detached(obj)
    s.add(ticket)
    return ticket


def _model_version(decision: DecisionOut) -> str | None:
    versions = sorted(set(decision.model_versions.values()))
    return ",".join(versions) if versions else None


def get_ticket(s: Session, ticket_id: int, *, with_events: bool = False) -> Ticket:
    """Return one ticket or raise 404."""
    options = [joinedload(Ticket.queue), joinedload(Ticket.customer)]
    if with_events:
        options.append(selectinload(Ticket.events))
    ticket = s.scalar(select(Ticket).where(Ticket.id == ticket_id).options(*options))
    if ticket is None:
        raise ApiError(404, "not_found", f"No ticket {ticket_id}.")
    return ticket


def list_tickets(
    s: Session, query: TicketQuery, catalog: Catalog
) -> tuple[list[Ticket], str | None]:
    """Return one page of tickets, newest first, and the cursor of the next page."""
    stmt = select(Ticket).options(joinedload(Ticket.queue), joinedload(Ticket.customer))
    if query.status is not None:
        stmt = stmt.where(Ticket.status == query.status)
    if query.queue is not None:
        queue = catalog.queues.get(query.queue)
        stmt = stmt.where(Ticket.queue_id == (queue.id if queue else -1))
    if query.priority is not None:
        stmt = stmt.where(Ticket.priority == query.priority)
    if query.category is not None:
        stmt = stmt.where(Ticket.category == query.category)
    if query.sla_state is not None:
        stmt = stmt.where(Ticket.sla_state == SlaState(query.sla_state))
    if query.needs_review is not None:
        stmt = stmt.where(Ticket.needs_review == query.needs_review)
    if query.assignee_id is not None:
        stmt = stmt.where(Ticket.assignee_id == query.assignee_id)
    # A cursor past the largest possible id pages from the start (every id is below it).
    if query.cursor is not None and int(query.cursor) <= MAX_ID:
        stmt = stmt.where(Ticket.id < int(query.cursor))
    rows = list(s.scalars(stmt.order_by(Ticket.id.desc()).limit(query.limit + 1)))
    next_cursor = str(rows[query.limit - 1].id) if len(rows) > query.limit else None
    return rows[: query.limit], next_cursor


# ---- agent changes ----


def ticket_clock(t: Ticket) -> sla.SlaClock:
    """Return the SLA clock stored on a ticket row."""
    return sla.SlaClock(
        consumed_seconds=t.sla_consumed_seconds,
        running_since=t.sla_running_since,
        first_response_at=t.first_response_at,
        resolved_at=t.resolved_at,
        first_response_consumed=t.sla_first_response_consumed,
    )


def apply_sla(t: Ticket, clock: sla.SlaClock, catalog: Catalog, now: datetime) -> None:
    """Store the clock on the ticket and recompute its due times and SLA state."""
    t.sla_consumed_seconds = clock.consumed_seconds
    t.sla_running_since = clock.running_since
    t.first_response_at = clock.first_response_at
    t.resolved_at = clock.resolved_at
    t.sla_first_response_consumed = clock.first_response_consumed
    policy = catalog.policy_for(t.priority, t.customer_tier.value if t.customer_tier else None)
    if policy is None:
        t.first_response_due_at = t.resolution_due_at = t.sla_at_risk_at = None
        return
    due = sla.due_times(clock, policy.calendar, policy.targets, now)
    t.first_response_due_at = due.first_response_due
    t.resolution_due_at = due.resolution_due
    t.sla_at_risk_at = sla.at_risk_at(clock, policy.calendar, policy.targets, now)
    state = sla.sla_state(clock, policy.calendar, policy.targets, now)
    if state == "breached":
        t.sla_state = SlaState.BREACHED
    elif clock.resolved_at is not None:
        t.sla_state = SlaState.MET
    elif clock.running_since is None:
        t.sla_state = SlaState.PAUSED
    else:
        t.sla_state = SlaState(state)


def _status_clock(
    clock: sla.SlaClock, old: Status, new: Status, cal: sla.BusinessCalendar, now: datetime
) -> sla.SlaClock:
    if old == Status.PENDING and new != Status.PENDING:
        clock = sla.resume(clock, now)
    if old == Status.RESOLVED and new == Status.OPEN:
        # Reopened: the clock runs again from now, keeping the time already used.
        clock = dataclasses.replace(clock, running_since=now, resolved_at=None)
    if new in (Status.OPEN, Status.RESOLVED, Status.CLOSED) and clock.first_response_at is None:
        clock = sla.record_first_response(clock, now)
    if new == Status.PENDING:
        clock = sla.pause(clock, cal, now)
    if new in (Status.RESOLVED, Status.CLOSED) and clock.resolved_at is None:
        clock = sla.resolve(clock, cal, now)
    return clock


def update_ticket(
    s: Session, ticket: Ticket, patch: TicketPatch, *, actor: Actor, catalog: Catalog, now: datetime
) -> list[TicketEvent]:
    """Apply an agent's change; each changed field becomes an event carrying what the model said."""
    if ticket.status == Status.CLOSED:
        raise ApiError(409, "ticket_closed", "A closed ticket no longer changes.")
    given = patch.model_fields_set - {"reason"}
    if not given:
        raise ApiError(
            422,
            "validation_error",
            "Nothing to change.",
            {"body": "give at least one of priority, category, queue, status, assignee_id"},
        )
    errors: dict[str, str] = {}
    if patch.priority is not None and patch.priority not in catalog.priorities:
        errors["priority"] = "unknown priority; one of " + ", ".join(catalog.priorities)
    if patch.category is not None and patch.category not in catalog.category_queue:
        errors["category"] = "unknown category"
    if patch.queue is not None and patch.queue not in catalog.queues:
        errors["queue"] = "unknown queue"
    for name in ("priority", "category", "queue", "status"):
        if name in given and getattr(patch, name) is None:
            errors[name] = "may not be null"
    if patch.assignee_id is not None and s.get(User, patch.assignee_id) is None:
        errors["assignee_id"] = "no such user"
    if (
        patch.status is not None
        and patch.status != ticket.status
        and (patch.status not in TRANSITIONS[ticket.status])
    ):
        allowed = ", ".join(sorted(st.value for st in TRANSITIONS[ticket.status])) or "none"
        raise ApiError(
            409,
            "invalid_transition",
            f"Cannot go from {ticket.status.value} to {patch.status.value}; allowed: {allowed}.",
            {"status": "transition not allowed"},
        )
    if errors:
        raise ApiError(422, "validation_error", "Some fields are not valid.", errors)

    decision = ticket.decision or {}
    served = decision.get("model_versions") or {}
    events: list[TicketEvent] = []

    def record(field: str, old: object, new: object, *, correction: bool = False) -> None:
        model = decision.get(field) or {}
        events.append(
            TicketEvent(
                ticket_id=ticket.id,
                at=now,
                field=field,
                old_value=None if old is None else str(old),
                new_value=None if new is None else str(new),
                actor=actor.name,
                source=actor.source,
                reason=patch.reason,
                model_version=served.get(field, ticket.model_version) if correction else None,
                confidence=model.get("confidence") if correction else None,
                predicted_value=model.get("model_label") if correction else None,
                is_correction=correction,
            )
        )
        if correction:
            metrics.record_correction(field)

    clock = ticket_clock(ticket)
    if patch.priority is not None and patch.priority != ticket.priority:
        record("priority", ticket.priority, patch.priority, correction=True)
        ticket.priority, ticket.priority_source = patch.priority, actor.source
        ticket.priority_human_set = True
    elif patch.priority is not None:
        ticket.priority_human_set = True  # confirming the value makes it human-set
    new_queue = patch.queue
    if patch.category is not None and patch.category != ticket.category:
        record("category", ticket.category, patch.category, correction=True)
        ticket.category, ticket.category_source = patch.category, actor.source
        ticket.category_human_set = True
        if new_queue is None:
            new_queue = catalog.category_queue[patch.category]
    elif patch.category is not None:
        ticket.category_human_set = True
    if new_queue is not None and new_queue != ticket.queue.name:
        record("queue", ticket.queue.name, new_queue)
        ticket.queue = s.get(Queue, catalog.queues[new_queue].id)
        ticket.queue_source = actor.source
    if "assignee_id" in given and patch.assignee_id != ticket.assignee_id:
        record("assignee", ticket.assignee_id, patch.assignee_id)
        ticket.assignee_id = patch.assignee_id
    if patch.status is not None and patch.status != ticket.status:
        record("status", ticket.status.value, patch.status.value)
        policy = catalog.policy_for(
            ticket.priority, ticket.customer_tier.value if ticket.customer_tier else None
        )
        cal = policy.calendar if policy else sla.BusinessCalendar.always()
        clock = _status_clock(clock, ticket.status, patch.status, cal, now)
        ticket.status = patch.status
        if patch.status == Status.CLOSED:
            ticket.closed_at = now
    if ticket.needs_review and (ticket.priority_human_set or ticket.category_human_set):
        record("needs_review", "true", "false")
        ticket.needs_review = False
    apply_sla(ticket, clock, catalog, now)
    ticket.updated_at = now
    s.add_all(events)
    return events
