"""The SLA sweep: mark tickets at risk or breached in set-based batches, and escalate breaches.

Each batch is one short transaction: the next ``batch_size`` due ids are read in id order
(keyset), ``UPDATE ... WHERE id IN (:ids) AND <still due> RETURNING ...`` changes them, their
events go in with one bulk insert, the escalations of the breached ones are applied, and it
commits. On PostgreSQL the ids are read ``FOR UPDATE SKIP LOCKED``, so a sweep never waits on a
ticket an agent is saving (the next sweep picks it up) and two sweeps split the work. Webhooks are
posted after the commit, never inside a transaction.

The sweep only moves states forward (ok -> at_risk -> breached) and only for workable tickets
(new, open): pending, resolved and closed tickets are never touched. Running it again at the same
``now`` finds nothing to do, so each breach is recorded and escalated once.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, and_, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from triage import metrics
from triage.catalog import Catalog, PolicyInfo
from triage.queues import WORKABLE
from triage.tables import SlaState, Ticket, TicketEvent
from triage.tickets import apply_sla, ticket_clock

log = logging.getLogger(__name__)

ACTOR, SOURCE = "system", "sla"
DEFAULT_BATCH_SIZE = 1000
WEBHOOK_TIMEOUT_SECONDS = 3.0
_WEBHOOK_THREADS = 8

Notify = Callable[[str, dict[str, Any], float], None]


@dataclass
class SweepReport:
    """What one sweep changed; every count is of tickets unless it says otherwise."""

    now: datetime
    at_risk: int = 0
    breached: int = 0
    events: int = 0
    priority_raised: int = 0
    raise_skipped_human: int = 0
    raise_at_top: int = 0
    requeued: int = 0
    webhooks_sent: int = 0
    webhooks_failed: int = 0
    escalation_errors: int = 0
    batches: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def problem(self, message: str) -> None:
        """Count a misconfigured escalation and keep its message once."""
        self.escalation_errors += 1
        if message not in self.problems:
            self.problems.append(message)

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready values."""
        data = asdict(self)
        data["now"] = _iso(self.now)
        data["seconds"] = round(self.seconds, 3)
        return data


@dataclass(frozen=True)
class _Pass:
    old: SlaState
    new: SlaState


# Breaches first, so a ticket already past its due time goes ok -> breached in one event.
_PASSES = (
    _Pass(SlaState.OK, SlaState.BREACHED),
    _Pass(SlaState.AT_RISK, SlaState.BREACHED),
    _Pass(SlaState.OK, SlaState.AT_RISK),
)
_TARGET_NAMES = {"first_response": "first response", "resolution": "resolution"}


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _condition(p: _Pass, now: datetime) -> ColumnElement[bool]:
    c = Ticket.__table__.c
    fr, res = c.first_response_due_at, c.resolution_due_at
    if p.new == SlaState.BREACHED:
        when = or_(fr <= now, res <= now)
    else:
        # Spelled out rather than NOT(due): NOT over a NULL comparison would drop the ticket.
        not_due = and_(or_(fr.is_(None), fr > now), or_(res.is_(None), res > now))
        when = and_(c.sla_at_risk_at <= now, not_due)
    return and_(c.status.in_(WORKABLE), c.sla_state == p.old, when)


def _reason(p: _Pass, row: Row[Any], now: datetime) -> str:
    dues = {"first_response": row.first_response_due_at, "resolution": row.resolution_due_at}
    if p.new == SlaState.BREACHED:
        missed = [(name, due) for name, due in dues.items() if due is not None and due <= now]
        names = " and ".join(_TARGET_NAMES[name] for name, _ in missed)
        when = ", ".join(f"{_TARGET_NAMES[name]} due {_iso(due)}" for name, due in missed)
        plural = "targets" if len(missed) > 1 else "target"
        return f"SLA {names} {plural} breached ({when})"
    # The target due first is the one at risk: both share the clock and the at-risk fraction.
    name, due = min(((n, d) for n, d in dues.items() if d is not None), key=lambda nd: nd[1])
    return f"SLA {_TARGET_NAMES[name]} target at risk (due {_iso(due)})"


def _event(
    ticket_id: int, name: str, old: str | None, new: str | None, reason: str, now: datetime
) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "at": now,
        "field": name,
        "old_value": old,
        "new_value": new,
        "actor": ACTOR,
        "source": SOURCE,
        "reason": reason,
        "is_correction": False,
    }


def _change_batch(
    s: Session, p: _Pass, now: datetime, after_id: int, batch_size: int
) -> tuple[list[Row[Any]], int | None]:
    """Move the next batch of due tickets to the pass's state; return them and the last id read.

    The last id is None when nothing is left.
    """
    c = Ticket.__table__.c
    cond = _condition(p, now)
    # Two statements, not UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE): PostgreSQL may
    # rescan such a subquery, skipping the rows it has just updated, and so exceed the limit.
    ids = s.scalars(
        select(c.id)
        .where(cond, c.id > after_id)
        .order_by(c.id)
        .limit(batch_size)
        .with_for_update(skip_locked=True)  # PostgreSQL only; SQLite has one writer anyway
    ).all()
    if not ids:
        return [], None
    # The condition again: on SQLite the read above is not in the write transaction yet.
    rows = s.execute(
        update(Ticket.__table__)
        .where(c.id.in_(ids), cond)
        .values(sla_state=p.new, updated_at=now)
        .returning(*(c[name] for name in _RETURNED))
    ).all()
    return list(rows), max(ids)


# What the batch UPDATE returns: enough to write the events and escalate without reading again.
_RETURNED = (
    "id",
    "priority",
    "priority_source",
    "priority_human_set",
    "customer_tier",
    "queue_id",
    "queue_source",
    "first_response_due_at",
    "resolution_due_at",
    "sla_at_risk_at",
    "sla_consumed_seconds",
    "sla_running_since",
    "first_response_at",
    "resolved_at",
    "sla_first_response_consumed",
)
# The columns an escalation may change, written back with one bulk UPDATE per batch.
_ESCALATED = (
    "priority",
    "priority_source",
    "queue_id",
    "queue_source",
    "first_response_due_at",
    "resolution_due_at",
    "sla_at_risk_at",
)


@dataclass(frozen=True)
class _Notice:
    ticket_id: int
    url: str
    payload: dict[str, Any]


@dataclass
class _Escalations:
    """What a batch's escalations change: ticket columns, events, webhook notices."""

    updates: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    notices: list[_Notice] = field(default_factory=list)


def _valid_webhook(url: Any) -> bool:
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _escalate(
    rows: list[Row[Any]], catalog: Catalog, now: datetime, report: SweepReport
) -> _Escalations:
    """Work out the escalations of a batch's breached tickets; computes, writes nothing."""
    out = _Escalations()
    for row in rows:
        tier = row.customer_tier.value if row.customer_tier else None
        policy = catalog.policy_for(row.priority, tier)
        if policy is None or not policy.escalation:
            continue
        esc = policy.escalation
        reason = f"SLA breached: escalation of policy {policy.name}"
        values = {name: getattr(row, name) for name in _ESCALATED}
        if "raise_priority" in esc:
            raised = _raise_priority(row, esc["raise_priority"], policy, catalog, now, report)
            if raised:
                out.events.append(
                    _event(row.id, "priority", row.priority, raised["priority"], reason, now)
                )
                values.update(raised)
        if "queue" in esc:
            target = catalog.queues.get(esc["queue"]) if isinstance(esc["queue"], str) else None
            if target is None:
                report.problem(f"policy {policy.name}: unknown queue {esc['queue']!r}")
            elif target.id != row.queue_id:
                old = catalog.queues_by_id.get(row.queue_id)
                out.events.append(
                    _event(row.id, "queue", old.name if old else None, target.name, reason, now)
                )
                values.update(queue_id=target.id, queue_source=SOURCE)
                report.requeued += 1
        if any(values[name] != getattr(row, name) for name in _ESCALATED):
            # updated_at given, or the column's onupdate would stamp the wall clock, not ``now``.
            out.updates.append({"id": row.id, "updated_at": now, **values})
        if "webhook" in esc:
            if not _valid_webhook(esc["webhook"]):
                report.problem(f"policy {policy.name}: webhook is not an http(s) URL")
                continue
            queue = catalog.queues_by_id.get(values["queue_id"])
            payload = {
                "event": "sla_breached",
                "ticket_id": row.id,
                "state": SlaState.BREACHED.value,
                "policy": policy.name,
                "priority": values["priority"],
                "queue": queue.name if queue else None,
                # The due times that were missed, not the ones a raised priority gives.
                "first_response_due_at": _iso_or_none(row.first_response_due_at),
                "resolution_due_at": _iso_or_none(row.resolution_due_at),
                "breached_at": _iso(now),
            }
            out.notices.append(_Notice(row.id, esc["webhook"], payload))
    return out


def _iso_or_none(value: datetime | None) -> str | None:
    return None if value is None else _iso(value)


def _raise_priority(
    row: Row[Any],
    steps: Any,
    policy: PolicyInfo,
    catalog: Catalog,
    now: datetime,
    report: SweepReport,
) -> dict[str, Any] | None:
    """Return the raised priority and its due times (bounded at the most urgent), or None."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        report.problem(f"policy {policy.name}: raise_priority must be a positive integer")
        return None
    if row.priority_human_set:
        report.raise_skipped_human += 1  # an agent's choice is not overruled by a clock
        return None
    rank = catalog.rank(row.priority)
    if rank >= len(catalog.priorities):
        report.problem(f"priority {row.priority!r} is not configured; not raised")
        return None
    new = catalog.priorities[max(0, rank - steps)]
    if new == row.priority:
        report.raise_at_top += 1
        return None
    # Same clock, new targets: the business time already used still counts. A detached copy
    # carries the clock through tickets.apply_sla, the one place due times are computed.
    copy = Ticket(
        priority=new,
        customer_tier=row.customer_tier,
        sla_consumed_seconds=row.sla_consumed_seconds,
        sla_running_since=row.sla_running_since,
        first_response_at=row.first_response_at,
        resolved_at=row.resolved_at,
        sla_first_response_consumed=row.sla_first_response_consumed,
    )
    apply_sla(copy, ticket_clock(copy), catalog, now)
    # The state stays breached (written by the batch): shorter targets cannot undo a breach,
    # and a ticket that went back to ok would be escalated a second time.
    report.priority_raised += 1
    return {
        "priority": new,
        "priority_source": SOURCE,
        "first_response_due_at": copy.first_response_due_at,
        "resolution_due_at": copy.resolution_due_at,
        "sla_at_risk_at": copy.sla_at_risk_at,
    }


def post_json(url: str, payload: dict[str, Any], timeout: float) -> None:
    """POST payload as JSON to url; raise on a network error or a non-2xx answer."""
    request = urllib.request.Request(  # noqa: S310 - only http(s) URLs reach here (_valid_webhook)
        url,
        data=json.dumps(payload).encode("utf-8"),
        headers={"Content-Type": "application/json", "User-Agent": "triage-sla-sweep"},
        method="POST",
    )
    # Bandit B310 (file:// and custom schemes): only http(s) URLs reach here, _valid_webhook
    # checks the scheme before the sweep queues a notice.
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 # nosec B310
        if not 200 <= response.status < 300:
            raise OSError(f"webhook answered {response.status}")


def _send(notices: Iterable[_Notice], notify: Notify, timeout: float, report: SweepReport) -> None:
    """Post the notices a few at a time; a failure is logged and counted, never raised."""
    notices = list(notices)
    if not notices:
        return

    def one(notice: _Notice) -> bool:
        try:
            notify(notice.url, notice.payload, timeout)
            return True
        except Exception as exc:  # noqa: BLE001 - a receiver's failure must not stop the sweep
            log.warning(
                "SLA webhook for ticket %s to %s failed: %s",
                notice.ticket_id,
                urlsplit(notice.url).netloc,
                exc,
            )
            return False

    with ThreadPoolExecutor(max_workers=min(_WEBHOOK_THREADS, len(notices))) as pool:
        for ok in pool.map(one, notices):
            if ok:
                report.webhooks_sent += 1
            else:
                report.webhooks_failed += 1


def sweep(
    s: Session,
    catalog: Catalog,
    now: datetime,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    notify: Notify = post_json,
    webhook_timeout: float = WEBHOOK_TIMEOUT_SECONDS,
    progress: Callable[[SweepReport], None] | None = None,
) -> SweepReport:
    """Mark due tickets at risk or breached as of ``now``, escalate breaches, commit per batch."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    started = time.perf_counter()
    report = SweepReport(now=now)
    for p in _PASSES:
        after_id = 0
        while True:
            rows, last_id = _change_batch(s, p, now, after_id, batch_size)
            if last_id is None:
                s.rollback()
                break
            report.batches += 1
            events = [
                _event(row.id, "sla_state", p.old.value, p.new.value, _reason(p, row, now), now)
                for row in rows
            ]
            escalations = _Escalations()
            if p.new == SlaState.BREACHED:
                report.breached += len(rows)
                metrics.record_sla_breaches(len(rows))
                escalations = _escalate(rows, catalog, now, report)
            else:
                report.at_risk += len(rows)
            events.extend(escalations.events)
            if events:
                s.execute(insert(TicketEvent.__table__), events)
            if escalations.updates:
                s.execute(update(Ticket), escalations.updates)  # bulk UPDATE by primary key
            s.commit()
            report.events += len(events)
            _send(escalations.notices, notify, webhook_timeout, report)
            after_id = last_id
            if progress is not None:
                progress(report)
    report.seconds = time.perf_counter() - started
    return report
