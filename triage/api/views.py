"""Views of /api/v1: parse (by the endpoint decorator), call one domain function, serialise."""

from __future__ import annotations

import re
from typing import cast

from flask import Response, current_app, jsonify, request, url_for
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from triage import db, intake
from triage.api import bp
from triage.api.spec import endpoint, openapi_document
from triage.auth import Principal
from triage.errors import ApiError
from triage.schemas import (
    DecisionOut,
    EventOut,
    Health,
    QueueRef,
    Ready,
    TicketDetail,
    TicketInput,
    TicketOut,
    TicketPage,
    TicketPatch,
    TicketQuery,
)
from triage.tables import Scope, Ticket, utcnow
from triage.tickets import Actor, get_ticket, list_tickets, update_ticket

READERS = (Scope.AGENT, Scope.DATA_STAFF)
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


def _state():
    return current_app.extensions["triage"]


class _SessionOnUse:
    """The request's session, opened only when something uses it.

    A preview reads the cached configuration and models and writes nothing: opening and closing
    an ORM session for it would cost more than its one optional customer lookup.
    """

    def get_bind(self) -> Engine:
        """Return the engine, for a read on a pooled connection, without opening the session."""
        return db.engine()

    def __getattr__(self, name: str):  # noqa: ANN204 - forwards anything
        return getattr(db.session(), name)


_SESSION_ON_USE = cast(Session, _SessionOnUse())


def _context(s: Session | None = None) -> intake.Context:
    state = _state()
    s = s or db.session()
    now = utcnow()
    return intake.Context(
        catalog=state.catalog.get(s, now),
        models=state.models.current(s),
        thresholds=state.thresholds,
        now=now,
    )


def ticket_out(t: Ticket, queue: QueueRef | None = None) -> TicketOut:
    """Serialise a ticket row for the API (queue: its queue when known, saving a load)."""
    return TicketOut(
        id=t.id,
        subject=t.subject,
        description=t.description,
        requester=t.requester,
        customer=t.customer.name if t.customer else None,
        tier=t.customer_tier.value if t.customer_tier else None,
        channel=t.channel.value,
        language=t.language,
        stated_urgency=t.stated_urgency.value if t.stated_urgency else None,
        impact=t.impact.value if t.impact else None,
        status=t.status.value,
        priority=t.priority,
        category=t.category,
        queue=queue or QueueRef(name=t.queue.name, title=t.queue.title),
        assignee_id=t.assignee_id,
        tags=t.tags or [],
        needs_review=t.needs_review,
        priority_source=t.priority_source,
        category_source=t.category_source,
        queue_source=t.queue_source,
        priority_confidence=t.priority_confidence,
        category_confidence=t.category_confidence,
        priority_human_set=t.priority_human_set,
        category_human_set=t.category_human_set,
        model_version=t.model_version,
        sla_state=t.sla_state.value,
        first_response_due_at=t.first_response_due_at,
        resolution_due_at=t.resolution_due_at,
        created_at=t.created_at,
        updated_at=t.updated_at,
        first_response_at=t.first_response_at,
        resolved_at=t.resolved_at,
        closed_at=t.closed_at,
    )


def ticket_detail(t: Ticket, queue: QueueRef | None = None) -> TicketDetail:
    """Serialise a ticket with its decision and full event history."""
    base = ticket_out(t, queue).model_dump()
    return TicketDetail(
        **base,
        decision=t.decision or {},
        events=[EventOut.model_validate(e) for e in t.events],
    )


@bp.get("/openapi.json")
def openapi() -> Response:
    """Serve the OpenAPI 3.1 document generated from the request and response models."""
    return jsonify(openapi_document(bp.url_prefix or ""))


@endpoint(bp, "/health", "GET", response=Health, summary="Liveness: the process answers.")
def health() -> Health:
    return Health(status="ok")


@endpoint(
    bp,
    "/ready",
    "GET",
    response=Ready,
    errors=(503,),
    summary="Readiness: database reachable and which model (or rules only) is serving.",
)
def ready() -> tuple[Ready, int, dict[str, str]]:
    state = _state()
    problems: list[str] = []
    database = True
    models_snapshot = None
    try:
        s = db.session()
        s.execute(text("SELECT 1"))
        models_snapshot = state.models.current(s)
        catalog = state.catalog.get(s, utcnow())
        problems.extend(catalog.problems)
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure instead of raising
        database = False
        problems.append(f"database: {exc.__class__.__name__}")
    if models_snapshot is not None:
        problems.extend(models_snapshot.problems)
        models = {t: models_snapshot.version(t) for t in ("priority", "category")}
        mode = models_snapshot.mode
    else:
        models, mode = {"priority": None, "category": None}, "rules_only"
    if not database:
        status, code = "unavailable", 503
    elif problems or mode == "rules_only":
        status, code = "degraded", 200
    else:
        status, code = "ready", 200
    return (
        Ready(status=status, database=database, mode=mode, models=models, problems=problems),
        code,
        {},
    )


@endpoint(
    bp,
    "/triage",
    "POST",
    body=TicketInput,
    response=DecisionOut,
    scopes=(Scope.INTAKE, Scope.AGENT),
    errors=(429,),  # RATE_LIMIT_INTAKE per API key (triage/limits.py)
    summary="Preview the decision for a ticket (priority, category, queue, SLA); stores nothing.",
)
def triage_preview(body: TicketInput, principal: Principal) -> DecisionOut:
    return intake.preview(_SESSION_ON_USE, body, _context(_SESSION_ON_USE))


@endpoint(
    bp,
    "/tickets",
    "POST",
    body=TicketInput,
    response=TicketDetail,
    status=201,
    scopes=(Scope.INTAKE, Scope.AGENT),
    errors=(422, 429),
    also=((200, "The ticket an earlier request with this Idempotency-Key created."),),
    headers=(
        (
            "Idempotency-Key",
            "A retried request with the same key returns the first "
            "ticket instead of creating another.",
        ),
    ),
    summary="Create and triage a ticket.",
)
def create_ticket(
    body: TicketInput, principal: Principal
) -> tuple[TicketDetail, int, dict[str, str]]:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        raise ApiError(
            422,
            "validation_error",
            "Invalid Idempotency-Key header.",
            {"Idempotency-Key": "1 to 200 printable ASCII characters"},
        )
    s = db.session()
    ctx = _context()
    ticket, created = intake.submit(
        s, body, ctx, actor=principal.actor, api_key_id=principal.key_id, idempotency_key=key
    )
    headers = {"Location": url_for("api.show_ticket", ticket_id=ticket.id)}
    if not created:
        headers["Idempotent-Replayed"] = "true"
        return ticket_detail(ticket), 200, headers  # the first ticket, loaded with its events
    # Answered from what was just stored (ids included): no second read of the same rows.
    queue = ctx.catalog.queues_by_id[ticket.queue_id]
    return ticket_detail(ticket, QueueRef(name=queue.name, title=queue.title)), 201, headers


@endpoint(
    bp,
    "/tickets",
    "GET",
    query=TicketQuery,
    response=TicketPage,
    scopes=READERS,
    summary="List tickets, newest first, filtered; follow next_cursor for the next page.",
)
def list_all(query: TicketQuery, principal: Principal) -> TicketPage:
    s = db.session()
    rows, cursor = list_tickets(s, query, _state().catalog.get(s, utcnow()))
    return TicketPage(items=[ticket_out(t) for t in rows], next_cursor=cursor)


@endpoint(
    bp,
    "/tickets/<int:ticket_id>",
    "GET",
    response=TicketDetail,
    scopes=READERS,
    errors=(404,),
    summary="One ticket with its decision and event history.",
)
def show_ticket(ticket_id: int, principal: Principal) -> TicketDetail:
    return ticket_detail(get_ticket(db.session(), ticket_id, with_events=True))


@endpoint(
    bp,
    "/tickets/<int:ticket_id>",
    "PATCH",
    body=TicketPatch,
    response=TicketDetail,
    scopes=(Scope.AGENT,),
    errors=(404, 409),
    summary="An agent's change (priority, category, queue, status, assignee) with a reason.",
)
def patch_ticket(ticket_id: int, body: TicketPatch, principal: Principal) -> TicketDetail:
    s = db.session()
    now = utcnow()
    ticket = get_ticket(s, ticket_id, with_events=True)
    events = update_ticket(
        s,
        ticket,
        body,
        actor=Actor(principal.actor, principal.user_id),
        catalog=_state().catalog.get(s, now),
        now=now,
    )
    s.commit()
    # The history as stored: what was loaded plus this change's events (no second read).
    set_committed_value(ticket, "events", [*ticket.events, *events])
    return ticket_detail(ticket)
