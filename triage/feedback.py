"""Feedback: what agents corrected or confirmed, read from the event history, as training rows.

Ground truth is only what a person set: a field an agent changed (a correction) or explicitly
confirmed (a PATCH that sets the same value). Unreviewed predictions never become labels.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from triage.decision import TicketFacts
from triage.tables import Ticket, TicketEvent

TARGETS = ("priority", "category")


@dataclass(frozen=True)
class FeedbackRow:
    """One ticket with its human labels and what the model had said about it."""

    ticket_id: int
    subject: str
    description: str
    customer_tier: str | None
    channel: str
    stated_urgency: str | None
    impact: str | None
    language: str | None
    priority: str | None
    priority_label_source: str | None  # "corrected", "confirmed" or None (no human label)
    priority_predicted: str | None
    priority_confidence: float | None
    priority_model_version: str | None
    category: str | None
    category_label_source: str | None
    category_predicted: str | None
    category_confidence: float | None
    category_model_version: str | None
    model_version: str | None
    labelled_at: datetime | None

    def record(self) -> dict[str, str | None]:
        """Return the record a classifier pipeline takes (the same shape as at intake)."""
        return TicketFacts(
            subject=self.subject,
            description=self.description,
            tier=self.customer_tier,
            channel=self.channel,
            stated_urgency=self.stated_urgency,
            impact=self.impact,
            language=self.language,
        ).record()

    @property
    def was_corrected(self) -> bool:
        """Tell whether an agent changed any label the model gave."""
        return "corrected" in (self.priority_label_source, self.category_label_source)


def feedback_rows(
    s: Session, *, since: datetime | None = None, batch_size: int = 1000
) -> Iterator[FeedbackRow]:
    """Yield every ticket with at least one human label, oldest first, in batches."""
    stmt = select(Ticket).where(or_(Ticket.priority_human_set, Ticket.category_human_set))
    if since is not None:
        stmt = stmt.where(Ticket.updated_at >= since)
    last_id = 0
    while True:
        tickets = list(
            s.scalars(stmt.where(Ticket.id > last_id).order_by(Ticket.id).limit(batch_size))
        )
        if not tickets:
            return
        last_id = tickets[-1].id
        corrections = _corrections(s, [t.id for t in tickets])
        for t in tickets:
            yield _row(t, corrections.get(t.id, {}))


def _corrections(s: Session, ticket_ids: list[int]) -> dict[int, dict[str, TicketEvent]]:
    """Return the last correction event per ticket and field."""
    found: dict[int, dict[str, TicketEvent]] = {}
    events = s.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id.in_(ticket_ids), TicketEvent.is_correction)
        .order_by(TicketEvent.id)
    )
    for event in events:
        found.setdefault(event.ticket_id, {})[event.field] = event
    return found


def _row(t: Ticket, corrections: dict[str, TicketEvent]) -> FeedbackRow:
    decision = t.decision or {}
    labels: dict[str, tuple[str | None, str | None, str | None]] = {}
    served = decision.get("model_versions") or {}
    for target in TARGETS:
        predicted = (decision.get(target) or {}).get("model_label")
        human = getattr(t, f"{target}_human_set")
        value = getattr(t, target) if human else None
        if not human:
            source = None
        elif target in corrections and corrections[target].new_value != predicted:
            source = "corrected"
        else:
            source = "confirmed" if value == predicted else "corrected"
        labels[target] = (value, source, predicted)
    at = max((e.at for e in corrections.values()), default=t.updated_at)
    return FeedbackRow(
        ticket_id=t.id,
        subject=t.subject,
        description=t.description,
        customer_tier=t.customer_tier.value if t.customer_tier else None,
        channel=t.channel.value,
        stated_urgency=t.stated_urgency.value if t.stated_urgency else None,
        impact=t.impact.value if t.impact else None,
        language=t.language,
        priority=labels["priority"][0],
        priority_label_source=labels["priority"][1],
        priority_predicted=labels["priority"][2],
        priority_confidence=(decision.get("priority") or {}).get("confidence"),
        priority_model_version=served.get("priority"),
        category=labels["category"][0],
        category_label_source=labels["category"][1],
        category_predicted=labels["category"][2],
        category_confidence=(decision.get("category") or {}).get("confidence"),
        category_model_version=served.get("category"),
        model_version=t.model_version,
        labelled_at=at,
    )


def export_csv(s: Session, path: Path) -> int:
    """Write the feedback rows to a CSV file (atomically) and return how many were written."""
    fields = [f for f in FeedbackRow.__dataclass_fields__]
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*fields, "was_corrected"])
        writer.writeheader()
        for row in feedback_rows(s):
            data = asdict(row)
            data["labelled_at"] = row.labelled_at.isoformat() if row.labelled_at else ""
            writer.writerow({**data, "was_corrected": row.was_corrected})
            count += 1
    tmp.replace(path)
    return count
