"""Pydantic models: they validate every request and generate the OpenAPI document."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from triage.tables import Channel, Impact, Status, Tier, Urgency

MAX_SUBJECT = 300
MAX_DESCRIPTION = 20_000
MAX_REASON = 2_000

# C0 control characters other than tab, newline and carriage return; PostgreSQL refuses NUL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean_text(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


def _text(max_length: int) -> Any:
    return Annotated[
        str, StringConstraints(min_length=1, max_length=max_length), AfterValidator(_clean_text)
    ]


Subject = _text(MAX_SUBJECT)
Description = _text(MAX_DESCRIPTION)
Reason = _text(MAX_REASON)
ShortText = _text(200)
Label = Annotated[
    str, StringConstraints(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.:-]+$")
]


class Strict(BaseModel):
    """Base of request models: unknown fields are refused, types are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Out(BaseModel):
    """Base of response models."""

    model_config = ConfigDict(from_attributes=True)


# ---- requests ----


class TicketInput(Strict):
    """What an intake form sends about a ticket."""

    subject: Subject = Field(description="One line: what the ticket is about.")
    description: Description = Field(description="The requester's own words.")
    requester: ShortText | None = Field(None, description="Who asked (e-mail or name).")
    customer: ShortText | None = Field(None, description="Customer (company) name.")
    tier: Tier | None = Field(None, description="Subscription tier; defaults to the customer's.")
    channel: Channel = Field(Channel.API, description="Where the ticket came in.")
    stated_urgency: Urgency | None = Field(None, description="Urgency as the requester states it.")
    impact: Impact | None = Field(None, description="How many people are affected.")
    language: Literal["pt", "en"] | None = Field(None, description="Detected when absent.")


class TicketPatch(Strict):
    """An agent's change to a ticket; every changed field becomes an event with the reason."""

    priority: Label | None = None
    category: Label | None = None
    queue: Label | None = None
    status: Status | None = None
    assignee_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = Field(
        None, description="User id; null unassigns."
    )
    reason: Reason = Field(description="Why the change was made (kept in the history).")


class TicketQuery(Strict):
    """Filters and paging of the ticket list."""

    model_config = ConfigDict(extra="forbid", strict=False)

    status: Status | None = None
    queue: Label | None = None
    priority: Label | None = None
    category: Label | None = None
    sla_state: Literal["ok", "at_risk", "breached", "paused", "met"] | None = None
    needs_review: bool | None = None
    assignee_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Annotated[str, StringConstraints(max_length=40, pattern=r"^[0-9]+$")] | None = Field(
        None, description="The next_cursor of the previous page."
    )


# ---- responses ----


class Alternative(Out):
    label: str
    probability: float


class Term(Out):
    term: str
    weight: float


class FieldDecision(Out):
    """How one triage field was decided."""

    value: str | None
    source: str = Field(description='"model:<version>", "rule:<name>", "matrix" or "default".')
    confidence: float | None = None
    needs_review: bool = False
    model_label: str | None = Field(None, description="What the model alone said.")
    alternatives: list[Alternative] = []
    explanation: list[Term] = []


class QueueRef(Out):
    name: str
    title: str


class QueueDecision(QueueRef):
    source: str


class FiredRule(Out):
    name: str
    matched: list[str]


class MatrixInput(Out):
    impact: str | None
    urgency: str | None
    priority: str | None


class SlaOut(Out):
    policy: str | None
    calendar: str | None
    state: str
    first_response_due_at: datetime | None
    resolution_due_at: datetime | None
    at_risk_at: datetime | None = None


class DecisionOut(Out):
    """The triage decision for one ticket, with the reasons for each field."""

    priority: FieldDecision
    category: FieldDecision
    queue: QueueDecision
    needs_review: bool
    review_reasons: list[str]
    tags: list[str]
    rules_fired: list[FiredRule]
    matrix: MatrixInput
    language: str | None
    model_versions: dict[str, str] = Field(description="Model version that served each target.")
    mode: Literal["model", "rules_only"] = Field(
        description='"rules_only" when no model is loaded: priority comes from matrix and rules.'
    )
    sla: SlaOut


class EventOut(Out):
    id: int
    at: datetime
    field: str
    old_value: str | None
    new_value: str | None
    actor: str
    source: str
    reason: str | None
    model_version: str | None
    confidence: float | None
    predicted_value: str | None
    is_correction: bool


class TicketOut(Out):
    id: int
    subject: str
    description: str
    requester: str | None
    customer: str | None
    tier: str | None
    channel: str
    language: str | None
    stated_urgency: str | None
    impact: str | None
    status: str
    priority: str
    category: str | None
    queue: QueueRef
    assignee_id: int | None
    tags: list[str]
    needs_review: bool
    priority_source: str
    category_source: str | None
    queue_source: str
    priority_confidence: float | None
    category_confidence: float | None
    priority_human_set: bool
    category_human_set: bool
    model_version: str | None
    sla_state: str
    first_response_due_at: datetime | None
    resolution_due_at: datetime | None
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None


class TicketDetail(TicketOut):
    decision: dict[str, Any]
    events: list[EventOut]


class TicketPage(Out):
    items: list[TicketOut]
    next_cursor: str | None


class Health(Out):
    status: Literal["ok"]


class Ready(Out):
    status: Literal["ready", "degraded", "unavailable"]
    database: bool
    mode: Literal["model", "rules_only"]
    models: dict[str, str | None]
    problems: list[str]


class ErrorOut(Out):
    error: str
    message: str
    fields: dict[str, str]


# ---- queues (triage/queues.py, triage/api/queues.py) ----


class QueueSummary(Out):
    """One queue and what it holds now."""

    id: int
    name: str
    title: str
    is_triage: bool
    open: int = Field(description="Tickets not resolved or closed (new, open, pending).")
    unassigned: int = Field(description="Workable tickets (new, open) nobody has claimed.")
    pending: int = Field(description="Tickets waiting on the customer (SLA clock paused).")
    by_priority: dict[str, int] = Field(description="Open tickets per priority.")
    at_risk: int = Field(description="Open tickets whose SLA is at risk.")
    breached: int = Field(description="Open tickets whose SLA is breached.")


class QueueList(Out):
    items: list[QueueSummary]


class QueueTicketQuery(Strict):
    """Paging of a queue's tickets, which come in queue order."""

    model_config = ConfigDict(extra="forbid", strict=False)

    unassigned: bool | None = Field(
        None, description="true: only claimable tickets; false: only assigned ones."
    )
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = Field(
        0, description="The next_offset of the previous page."
    )


class QueueTicketPage(Out):
    """Workable tickets (new, open) by SLA due time, then priority, then age."""

    queue: QueueRef
    items: list[TicketOut]
    next_offset: int | None
