"""Queues: the order agents work tickets in, the counts they watch, and claiming the next one.

Queue order is: the earliest SLA due time still open (first response or resolution; tickets
with none come last), then priority rank (most urgent first), then age (oldest first), then id.
Only workable tickets (new, open) are in the order; a claim takes the first unassigned one.

A claim must hand each ticket to exactly one agent while many claim at once:
- PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1`` locks the first ticket no other
  claim holds; it stays locked until the caller commits the assignment.
- SQLite (one writer at a time, no row locks): a compare-and-set
  ``UPDATE tickets SET assignee_id = :me WHERE id = :id AND assignee_id IS NULL``; when another
  agent got there first, the next candidate is tried.
Either way the assignment itself then goes through ``tickets.update_ticket``, so a claim
records its events exactly as an agent's PATCH does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, select, update
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from triage.catalog import Catalog, QueueInfo
from triage.schemas import TicketPatch
from triage.tables import Priority, SlaState, Status, Ticket
from triage.tickets import Actor, update_ticket

WORKABLE = (Status.NEW, Status.OPEN)
OPEN_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING)
# Unknown priorities (a rule or an old row naming one since removed) sort after every known one.
_UNRANKED = 1_000_000
# How many candidates a SQLite claim reads at a time before trying them one by one.
_CAS_CANDIDATES = 5


def due_at() -> ColumnElement[Any]:
    """Return the earliest SLA due time still open as SQL (NULL when no target is counting)."""
    fr, res = Ticket.first_response_due_at, Ticket.resolution_due_at
    # Portable LEAST that ignores NULLs (SQLite's min() and PostgreSQL's LEAST differ on them).
    return case(
        (fr.is_(None), res),
        (res.is_(None), fr),
        (fr <= res, fr),
        else_=res,
    )


def in_queue_order(stmt: Select[Any]) -> Select[Any]:
    """Add the priorities join and the queue order (due, priority rank, age, id) to stmt."""
    due = due_at()
    return stmt.outerjoin(Priority, Priority.name == Ticket.priority).order_by(
        due.is_(None),
        due,
        func.coalesce(Priority.rank, _UNRANKED),
        Ticket.created_at,
        Ticket.id,
    )


def _workable(queue_id: int, *, unassigned: bool | None) -> list[ColumnElement[bool]]:
    where = [Ticket.queue_id == queue_id, Ticket.status.in_(WORKABLE)]
    if unassigned is True:
        where.append(Ticket.assignee_id.is_(None))
    elif unassigned is False:
        where.append(Ticket.assignee_id.is_not(None))
    return where


def list_queue(
    s: Session, queue_id: int, *, limit: int, offset: int, unassigned: bool | None = None
) -> tuple[list[Ticket], int | None]:
    """Return one page of a queue's workable tickets in queue order, and the next offset."""
    stmt = in_queue_order(
        select(Ticket)
        .where(*_workable(queue_id, unassigned=unassigned))
        .options(joinedload(Ticket.queue), joinedload(Ticket.customer))
    )
    rows = list(s.scalars(stmt.offset(offset).limit(limit + 1)))
    next_offset = offset + limit if len(rows) > limit else None
    return rows[:limit], next_offset


@dataclass
class QueueCounts:
    """What a queue holds now: open tickets per priority and how they stand against the SLA."""

    queue: QueueInfo
    open: int = 0
    unassigned: int = 0
    pending: int = 0
    at_risk: int = 0
    breached: int = 0
    by_priority: dict[str, int] = field(default_factory=dict)


def queue_counts(s: Session, catalog: Catalog) -> list[QueueCounts]:
    """Count the open (not resolved or closed) tickets of every queue in one grouped query."""
    counts = {
        q.id: QueueCounts(q, by_priority=dict.fromkeys(catalog.priorities, 0))
        for q in catalog.queues.values()
    }
    unassigned = Ticket.assignee_id.is_(None)
    rows = s.execute(
        select(
            Ticket.queue_id,
            Ticket.priority,
            Ticket.status,
            Ticket.sla_state,
            unassigned,
            func.count(),
        )
        .where(Ticket.status.in_(OPEN_STATUSES))
        .group_by(Ticket.queue_id, Ticket.priority, Ticket.status, Ticket.sla_state, unassigned)
    )
    for queue_id, priority, status, state, is_unassigned, n in rows:
        c = counts.get(queue_id)
        if c is None:  # a queue created after this worker's catalog snapshot
            continue
        c.open += n
        c.by_priority[priority] = c.by_priority.get(priority, 0) + n
        if status == Status.PENDING:
            c.pending += n
        elif is_unassigned:
            c.unassigned += n
        if state == SlaState.AT_RISK:
            c.at_risk += n
        elif state == SlaState.BREACHED:
            c.breached += n
    return [counts[q.id] for q in sorted(catalog.queues.values(), key=lambda q: q.id)]


def _lock_next(s: Session, queue_id: int) -> int | None:
    """Lock the first claimable ticket no other transaction holds (PostgreSQL)."""
    stmt = in_queue_order(select(Ticket.id).where(*_workable(queue_id, unassigned=True))).limit(1)
    # OF tickets: locking the joined priority row would make every claim skip every ticket.
    return s.scalar(stmt.with_for_update(of=Ticket, skip_locked=True))


def _compare_and_set_next(s: Session, queue_id: int, user_id: int) -> int | None:
    """Assign the first claimable ticket no other claim took in the meantime (SQLite)."""
    tickets = Ticket.__table__
    while True:
        stmt = in_queue_order(select(Ticket.id).where(*_workable(queue_id, unassigned=True)))
        candidates = list(s.scalars(stmt.limit(_CAS_CANDIDATES)))
        if not candidates:
            return None
        for ticket_id in candidates:
            # A Core statement on the table: it must not touch the ORM's copy of the row.
            taken = s.execute(
                update(tickets)
                .where(
                    and_(
                        tickets.c.id == ticket_id,
                        tickets.c.assignee_id.is_(None),
                        tickets.c.queue_id == queue_id,
                        tickets.c.status.in_(WORKABLE),
                    )
                )
                .values(assignee_id=user_id)
            )
            if taken.rowcount == 1:
                return ticket_id
        # Every candidate was taken by another agent; our first UPDATE now holds SQLite's write
        # lock, so the next read sees their claims and this loop ends.


def claim_next(
    s: Session, queue: QueueInfo, *, actor: Actor, catalog: Catalog, now: datetime
) -> Ticket | None:
    """Assign the next ticket of the queue to the agent (the caller commits); None if none left."""
    if actor.user_id is None:
        raise ValueError("only a user can claim a ticket")
    if s.get_bind().dialect.name == "postgresql":
        ticket_id = _lock_next(s, queue.id)
    else:
        ticket_id = _compare_and_set_next(s, queue.id, actor.user_id)
    if ticket_id is None:
        return None
    ticket = s.scalars(
        select(Ticket)
        .where(Ticket.id == ticket_id)
        .options(joinedload(Ticket.queue), joinedload(Ticket.customer))
        .execution_options(populate_existing=True)
    ).one()
    if ticket.assignee_id is not None:
        # The compare-and-set has already written the assignee; show update_ticket the row as
        # it was before the claim, so the claim is recorded by the one code path for changes.
        set_committed_value(ticket, "assignee_id", None)
    patch: dict[str, Any] = {
        "assignee_id": actor.user_id,
        "reason": f"claimed from queue {queue.name}",
    }
    if ticket.status == Status.NEW:
        patch["status"] = Status.OPEN  # an agent working it is its first response
    update_ticket(s, ticket, TicketPatch(**patch), actor=actor, catalog=catalog, now=now)
    return ticket
