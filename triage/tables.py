"""Database tables (SQLAlchemy 2.0 typed models); every change goes through Alembic migrations."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Ids are 32-bit integers on every database (PostgreSQL refuses a larger one in a query).
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC (the one column default for times)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as UTC and always read them back aware in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Status(enum.StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Role(enum.StrEnum):
    ADMIN = "admin"
    AGENT = "agent"
    DATA_STAFF = "data_staff"


class Scope(enum.StrEnum):
    INTAKE = "intake"
    AGENT = "agent"
    DATA_STAFF = "data_staff"


class Channel(enum.StrEnum):
    EMAIL = "email"
    WEB = "web"
    PHONE = "phone"
    CHAT = "chat"
    API = "api"


class Urgency(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Impact(enum.StrEnum):
    INDIVIDUAL = "individual"
    TEAM = "team"
    DEPARTMENT = "department"
    ORGANIZATION = "organization"


class Tier(enum.StrEnum):
    FREE = "free"
    STANDARD = "standard"
    PREMIUM = "premium"
    ENTERPRISE = "enterprise"


class SlaState(enum.StrEnum):
    OK = "ok"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    PAUSED = "paused"
    MET = "met"


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ModelStatus(enum.StrEnum):
    CANDIDATE = "candidate"
    ACTIVE = "active"
    SHADOW = "shadow"
    RETIRED = "retired"


def _enum(cls: type[enum.Enum], length: int = 20) -> Enum:
    return Enum(
        cls,
        native_enum=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime()}


class Queue(Base):
    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    # The queue that receives tickets whose decision needs a human look first.
    is_triage: Mapped[bool] = mapped_column(Boolean, default=False)
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("business_calendars.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __str__(self) -> str:
        return self.title


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(120))
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"))
    queue: Mapped[Queue] = relationship()

    def __str__(self) -> str:
        return self.title


class Priority(Base):
    __tablename__ = "priorities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(80))
    # 0 is the most urgent; queue order and raise/lower use it.
    rank: Mapped[int] = mapped_column(Integer, unique=True)

    def __str__(self) -> str:
        return self.title


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    tier: Mapped[Tier] = mapped_column(_enum(Tier), default=Tier.STANDARD)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __str__(self) -> str:
        return self.name


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __str__(self) -> str:
        return self.email


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    # The first characters of the key, shown to people so they can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[Scope] = mapped_column(_enum(Scope))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    user: Mapped[User | None] = relationship()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class BusinessCalendarRow(Base):
    __tablename__ = "business_calendars"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    # {"mon": [["09:00", "18:00"]], ...}: local working intervals per weekday.
    hours: Mapped[dict[str, Any]] = mapped_column(JSON)
    holiday_country: Mapped[str | None] = mapped_column(String(8))
    holiday_subdivision: Mapped[str | None] = mapped_column(String(16))
    custom_holidays: Mapped[list[str]] = mapped_column(JSON, default=list)

    def __str__(self) -> str:
        return self.name


class SlaPolicy(Base):
    __tablename__ = "sla_policies"
    __table_args__ = (UniqueConstraint("priority", "tier"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    priority: Mapped[str] = mapped_column(String(40))
    # None applies to every tier without a policy of its own.
    tier: Mapped[Tier | None] = mapped_column(_enum(Tier))
    first_response_minutes: Mapped[int] = mapped_column(Integer)
    resolution_minutes: Mapped[int] = mapped_column(Integer)
    at_risk_fraction: Mapped[float] = mapped_column(Float, default=0.75)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("business_calendars.id"))
    calendar: Mapped[BusinessCalendarRow] = relationship()
    # Applied by the sweep on breach: {"raise_priority": 1, "queue": ..., "webhook": ...}.
    escalation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    def __str__(self) -> str:
        return self.name


class Rule(Base):
    __tablename__ = "rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=100)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    stop: Mapped[bool] = mapped_column(Boolean, default=False)
    override_human: Mapped[bool] = mapped_column(Boolean, default=False)
    match_all: Mapped[bool] = mapped_column(Boolean, default=False)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __str__(self) -> str:
        return self.name


class Setting(Base):
    """Run-time settings every worker must see (the priority matrix, thresholds)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("api_key_id", "idempotency_key"),
        Index("ix_tickets_queue_status_due", "queue_id", "status", "resolution_due_at"),
        Index("ix_tickets_status_created", "status", "created_at"),
        Index("ix_tickets_sla_state", "sla_state"),
        Index("ix_tickets_priority", "priority"),
        Index("ix_tickets_category", "category"),
        # The agents' list sorted by SLA due time (PostgreSQL reads it in index order).
        Index("ix_tickets_due", "resolution_due_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    requester: Mapped[str | None] = mapped_column(String(254))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    customer: Mapped[Customer | None] = relationship()
    customer_tier: Mapped[Tier | None] = mapped_column(_enum(Tier))
    channel: Mapped[Channel] = mapped_column(_enum(Channel), default=Channel.API)
    language: Mapped[str | None] = mapped_column(String(8))
    stated_urgency: Mapped[Urgency | None] = mapped_column(_enum(Urgency))
    impact: Mapped[Impact | None] = mapped_column(_enum(Impact))
    status: Mapped[Status] = mapped_column(_enum(Status), default=Status.NEW)
    priority: Mapped[str] = mapped_column(String(40))
    category: Mapped[str | None] = mapped_column(String(80))
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"))
    queue: Mapped[Queue] = relationship()
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    assignee: Mapped[User | None] = relationship()
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    # Where each triage field came from: "model:<version>", "rule:<name>", "matrix", "agent:<id>".
    priority_source: Mapped[str] = mapped_column(String(120))
    category_source: Mapped[str | None] = mapped_column(String(120))
    queue_source: Mapped[str] = mapped_column(String(120))
    priority_confidence: Mapped[float | None] = mapped_column(Float)
    category_confidence: Mapped[float | None] = mapped_column(Float)
    priority_human_set: Mapped[bool] = mapped_column(Boolean, default=False)
    category_human_set: Mapped[bool] = mapped_column(Boolean, default=False)
    model_version: Mapped[str | None] = mapped_column(String(64))
    # The full decision record as made at intake: inputs, probabilities, explanation, rules fired.
    decision: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # SLA clock: business seconds consumed before sla_running_since; None while paused.
    sla_policy_id: Mapped[int | None] = mapped_column(ForeignKey("sla_policies.id"))
    sla_consumed_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    sla_running_since: Mapped[datetime | None]
    # Business seconds used when the first response came (to judge it late after later pauses).
    sla_first_response_consumed: Mapped[float | None] = mapped_column(Float)
    first_response_due_at: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    sla_state: Mapped[SlaState] = mapped_column(_enum(SlaState), default=SlaState.OK)
    # When the sweep should mark the ticket at risk (the earliest open target's fraction used).
    sla_at_risk_at: Mapped[datetime | None] = mapped_column(index=True)

    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", lazy="raise"
    )


class TicketEvent(Base):
    """One change of one ticket field; append-only (the database refuses updates and deletes)."""

    __tablename__ = "ticket_events"
    __table_args__ = (Index("ix_ticket_events_model_version_field", "model_version", "field"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    ticket: Mapped[Ticket] = relationship(back_populates="events")
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    # Who: "user:<id>", "apikey:<id>", "system".
    actor: Mapped[str] = mapped_column(String(80))
    # Why this value: "model:<version>", "rule:<name>", "matrix", "agent:<id>", "sla", "intake".
    source: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str | None] = mapped_column(Text)
    model_version: Mapped[str | None] = mapped_column(String(64))
    confidence: Mapped[float | None] = mapped_column(Float)
    # What the model had predicted for this field, kept with every correction.
    predicted_value: Mapped[str | None] = mapped_column(String(120))
    is_correction: Mapped[bool] = mapped_column(Boolean, default=False)


class ModelVersion(Base):
    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    targets: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[ModelStatus] = mapped_column(_enum(ModelStatus), default=ModelStatus.CANDIDATE)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    gate: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    parent_version: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(80))

    def __str__(self) -> str:
        return self.version


class ModelActivation(Base):
    """Append-only log of which version serves each target; the newest row per target wins."""

    __tablename__ = "model_activations"

    id: Mapped[int] = mapped_column(primary_key=True)
    target: Mapped[str] = mapped_column(String(40), index=True)
    version: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """A background job (model training): state, progress and outcome, seen by every worker."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    state: Mapped[JobState] = mapped_column(_enum(JobState), default=JobState.QUEUED, index=True)
    backend: Mapped[str] = mapped_column(String(20))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class ShadowPrediction(Base):
    """What a shadow version said about a stored ticket, beside what the serving version said."""

    __tablename__ = "shadow_predictions"
    __table_args__ = (Index("ix_shadow_predictions_version_target", "version", "target"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    target: Mapped[str] = mapped_column(String(40))
    version: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(120))
    confidence: Mapped[float] = mapped_column(Float)
    serving_version: Mapped[str | None] = mapped_column(String(64))
    serving_label: Mapped[str | None] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(default=utcnow)
