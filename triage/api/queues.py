"""Views of /api/v1/queues: counts per queue, a queue's tickets in order, claiming the next one."""

from __future__ import annotations

from flask import current_app

from triage import db
from triage.api import bp
from triage.api.spec import endpoint
from triage.api.views import READERS, ticket_detail, ticket_out
from triage.auth import Principal
from triage.catalog import Catalog, QueueInfo
from triage.errors import ApiError
from triage.queues import claim_next, list_queue, queue_counts
from triage.schemas import (
    QueueList,
    QueueRef,
    QueueSummary,
    QueueTicketPage,
    QueueTicketQuery,
    TicketDetail,
)
from triage.tables import Scope, utcnow
from triage.tickets import Actor, get_ticket


def _catalog() -> Catalog:
    return current_app.extensions["triage"].catalog.get(db.session(), utcnow())


def _queue(catalog: Catalog, queue_id: int) -> QueueInfo:
    queue = catalog.queues_by_id.get(queue_id)
    if queue is None:
        raise ApiError(404, "not_found", f"No queue {queue_id}.")
    return queue


@endpoint(
    bp,
    "/queues",
    "GET",
    response=QueueList,
    scopes=READERS,
    summary="Every queue with its open tickets per priority and its at-risk and breached counts.",
)
def list_queues(principal: Principal) -> QueueList:
    counts = queue_counts(db.session(), _catalog())
    return QueueList(
        items=[
            QueueSummary(
                id=c.queue.id,
                name=c.queue.name,
                title=c.queue.title,
                is_triage=c.queue.is_triage,
                open=c.open,
                unassigned=c.unassigned,
                pending=c.pending,
                by_priority=c.by_priority,
                at_risk=c.at_risk,
                breached=c.breached,
            )
            for c in counts
        ]
    )


@endpoint(
    bp,
    "/queues/<int:queue_id>/tickets",
    "GET",
    query=QueueTicketQuery,
    response=QueueTicketPage,
    scopes=READERS,
    errors=(404,),
    summary="A queue's workable tickets in queue order: SLA due time, priority, age; "
    "follow next_offset for the next page.",
)
def list_queue_tickets(
    queue_id: int, query: QueueTicketQuery, principal: Principal
) -> QueueTicketPage:
    queue = _queue(_catalog(), queue_id)
    rows, next_offset = list_queue(
        db.session(), queue.id, limit=query.limit, offset=query.offset, unassigned=query.unassigned
    )
    return QueueTicketPage(
        queue=QueueRef(name=queue.name, title=queue.title),
        items=[ticket_out(t) for t in rows],
        next_offset=next_offset,
    )


@endpoint(
    bp,
    "/queues/<int:queue_id>/claim",
    "POST",
    response=TicketDetail,
    scopes=(Scope.AGENT,),
    errors=(404,),
    summary="Assign the next ticket of the queue to the calling agent and return it. "
    'An empty queue answers 404 with error "queue_empty"; an unknown one 404 "not_found". '
    "The key must belong to a user (403 otherwise).",
)
def claim_ticket(queue_id: int, principal: Principal) -> TicketDetail:
    if principal.user_id is None:
        raise ApiError(
            403,
            "user_required",
            "Claiming assigns the ticket to a person: use an agent key that belongs to a user "
            "(triage create-api-key --user ...).",
        )
    s = db.session()
    now = utcnow()
    catalog = _catalog()
    queue = _queue(catalog, queue_id)
    ticket = claim_next(
        s, queue, actor=Actor(principal.actor, principal.user_id), catalog=catalog, now=now
    )
    if ticket is None:
        s.rollback()
        raise ApiError(404, "queue_empty", f"Queue {queue.name} has no unassigned ticket to claim.")
    s.commit()
    return ticket_detail(get_ticket(s, ticket.id, with_events=True))
