"""Intake: a validated request is decided and, unless previewed, stored with its first events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from triage import metrics
from triage.catalog import Catalog
from triage.classifier import predict_proba_labels
from triage.decision import TicketFacts, decide
from triage.errors import ApiError
from triage.schemas import DecisionOut, TicketInput
from triage.serving import ServingModels
from triage.tables import Customer, ShadowPrediction, Ticket
from triage.tickets import (
    create_ticket,
    facts_for,
    find_idempotent,
    get_ticket,
    request_hash,
    resolve_customer,
)

# Built once and run on a pooled connection: a preview reads one value and writes nothing.
_CUSTOMER_TIER = select(Customer.tier).where(Customer.name == bindparam("name"))


@dataclass(frozen=True)
class Context:
    """What every intake needs besides the request: configuration, models and the time."""

    catalog: Catalog
    models: ServingModels
    thresholds: dict[str, float]
    now: datetime


def preview(s: Session, data: TicketInput, ctx: Context) -> DecisionOut:
    """Decide a ticket without storing anything (the customer's tier is read, not created)."""
    tier = data.tier
    if tier is None and data.customer:
        with s.get_bind().connect() as conn:
            tier = conn.execute(_CUSTOMER_TIER, {"name": data.customer}).scalar()
    decision = decide(
        facts_for(data, tier),
        catalog=ctx.catalog,
        models=ctx.models,
        thresholds=ctx.thresholds,
        now=ctx.now,
    )
    metrics.record_decision(decision)
    return decision


def shadow_predictions(
    ticket_id: int,
    facts: TicketFacts,
    models: ServingModels,
    decision: DecisionOut,
    now: datetime,
) -> list[ShadowPrediction]:
    """Return what the shadow version says about a stored ticket, beside the serving model."""
    shadow = models.shadow
    assert shadow is not None
    record = facts.record()
    rows = []
    for target, pipeline in shadow.pipelines.items():
        labels, confidences = predict_proba_labels(pipeline, [record])
        field = getattr(decision, target)
        rows.append(
            ShadowPrediction(
                ticket_id=ticket_id,
                target=target,
                version=shadow.version,
                label=str(labels[0]),
                confidence=float(confidences[0]),
                serving_version=decision.model_versions.get(target),
                serving_label=field.model_label,
                at=now,
            )
        )
    return rows


def _replay(s: Session, existing: tuple[int, str | None], body_hash: str) -> tuple[Ticket, bool]:
    ticket_id, first_hash = existing
    if first_hash != body_hash:
        raise ApiError(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was used with a different body.",
            {"Idempotency-Key": "already used for another ticket"},
        )
    return get_ticket(s, ticket_id, with_events=True), False


def submit(
    s: Session,
    data: TicketInput,
    ctx: Context,
    *,
    actor: str,
    api_key_id: int | None,
    idempotency_key: str | None,
) -> tuple[Ticket, bool]:
    """Create and triage a ticket; a repeated Idempotency-Key returns the first (created=False)."""
    body_hash = request_hash(data)
    if idempotency_key and api_key_id is not None:
        existing = find_idempotent(s, api_key_id, idempotency_key)
        if existing is not None:
            return _replay(s, existing, body_hash)
    customer, tier = resolve_customer(s, data.customer, data.tier)
    facts = facts_for(data, tier)
    decision = decide(
        facts,
        catalog=ctx.catalog,
        models=ctx.models,
        thresholds=ctx.thresholds,
        now=ctx.now,
    )
    metrics.record_decision(decision)
    try:
        ticket = create_ticket(
            s,
            data,
            decision,
            tier=tier,
            customer=customer,
            queue_id=ctx.catalog.queues[decision.queue.name].id,
            actor=actor,
            api_key_id=api_key_id,
            idempotency_key=idempotency_key,
            body_hash=body_hash,
            now=ctx.now,
        )
        if ctx.models.shadow is not None:
            s.add_all(shadow_predictions(ticket.id, facts, ctx.models, decision, ctx.now))
        s.commit()
    except IntegrityError:
        # Two requests with the same key raced; the other one won and its ticket is the answer.
        s.rollback()
        if idempotency_key and api_key_id is not None:
            existing = find_idempotent(s, api_key_id, idempotency_key)
            if existing is not None:
                return _replay(s, existing, body_hash)
        raise
    return ticket, True
