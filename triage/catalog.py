"""Run-time configuration shared by every worker: queues, priorities, rules, matrix, SLA."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from triage import rules as rules_mod
from triage.priority_matrix import PriorityMatrix, default_matrix
from triage.sla import BusinessCalendar, SlaTargets
from triage.tables import (
    BusinessCalendarRow,
    Category,
    Priority,
    Queue,
    Rule,
    Setting,
    SlaPolicy,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueInfo:
    id: int
    name: str
    title: str
    is_triage: bool


@dataclass(frozen=True)
class PolicyInfo:
    id: int
    name: str
    targets: SlaTargets
    calendar_name: str
    calendar: BusinessCalendar
    escalation: dict[str, Any]


@dataclass(frozen=True)
class Catalog:
    """An immutable snapshot of the configuration, safe to share between request threads."""

    priorities: tuple[str, ...]
    queues: dict[str, QueueInfo]
    queues_by_id: dict[int, QueueInfo]
    category_queue: dict[str, str]
    triage_queue: QueueInfo
    matrix: PriorityMatrix
    ruleset: rules_mod.RuleSet
    policies: dict[tuple[str, str | None], PolicyInfo]
    problems: tuple[str, ...] = field(default=())

    @property
    def default_priority(self) -> str:
        """Return the priority used when neither model nor matrix gives one."""
        return (
            "medium" if "medium" in self.priorities else self.priorities[len(self.priorities) // 2]
        )

    def policy_for(self, priority: str, tier: str | None) -> PolicyInfo | None:
        """Return the SLA policy for a priority, the tier's own one first."""
        return self.policies.get((priority, tier)) or self.policies.get((priority, None))

    def rank(self, priority: str) -> int:
        """Return the urgency rank of a priority (0 is the most urgent)."""
        return (
            self.priorities.index(priority) if priority in self.priorities else len(self.priorities)
        )


def rule_spec(row: Rule) -> rules_mod.RuleSpec:
    """Turn a rule row into the engine's spec."""
    return rules_mod.RuleSpec(
        name=row.name,
        description=row.description,
        enabled=row.enabled,
        position=row.position,
        stop=row.stop,
        override_human=row.override_human,
        match_all=row.match_all,
        conditions=row.conditions,
        actions=row.actions,
    )


def load_catalog(s: Session, now: datetime) -> Catalog:
    """Read the whole configuration from the database and compile it."""
    priorities = tuple(s.scalars(select(Priority.name).order_by(Priority.rank)))
    if not priorities:
        raise RuntimeError("no priorities configured: run 'triage init-db'")
    queue_rows = s.scalars(select(Queue).order_by(Queue.id)).all()
    queues = {q.name: QueueInfo(q.id, q.name, q.title, q.is_triage) for q in queue_rows}
    triage_queue = next((q for q in queues.values() if q.is_triage), None)
    if triage_queue is None:
        raise RuntimeError("no triage queue configured")
    categories = s.scalars(select(Category).options(selectinload(Category.queue))).all()
    category_queue = {c.name: c.queue.name for c in categories}
    settings = {row.key: row.value for row in s.scalars(select(Setting))}
    problems: list[str] = []
    matrix = default_matrix()
    if "priority_matrix" in settings:
        try:
            matrix = PriorityMatrix.model_validate(
                settings["priority_matrix"], context={"priorities": list(priorities)}
            )
        except ValueError as exc:
            problems.append(f"priority matrix ignored: {exc}")
    rule_rows = s.scalars(select(Rule).order_by(Rule.position, Rule.name)).all()
    try:
        ruleset = rules_mod.compile_ruleset(
            [rule_spec(r) for r in rule_rows],
            priorities=priorities,
            queues=set(queues),
            categories=set(category_queue) or None,
        )
    except (rules_mod.RuleError, ValueError) as exc:
        # Rules are validated when saved; this only happens after a hand edit of the database.
        log.error("rules ignored: %s", exc)
        problems.append(f"rules ignored: {exc}")
        ruleset = rules_mod.compile_ruleset([], priorities=priorities, queues=set(queues))
    years = range(now.year - 1, now.year + 3)
    calendars: dict[int, BusinessCalendar] = {}
    policies: dict[tuple[str, str | None], PolicyInfo] = {}
    for p in s.scalars(select(SlaPolicy).options(selectinload(SlaPolicy.calendar))):
        cal_row = p.calendar
        if cal_row.id not in calendars:
            calendars[cal_row.id] = BusinessCalendar.from_config(
                timezone=cal_row.timezone,
                hours=cal_row.hours,
                country=cal_row.holiday_country,
                subdivision=cal_row.holiday_subdivision,
                custom_holidays=cal_row.custom_holidays,
                years=years,
            )
        targets = SlaTargets(
            first_response_seconds=p.first_response_minutes * 60.0,
            resolution_seconds=p.resolution_minutes * 60.0,
            at_risk_fraction=p.at_risk_fraction,
        )
        tier = p.tier.value if p.tier else None
        policies[(p.priority, tier)] = PolicyInfo(
            p.id, p.name, targets, cal_row.name, calendars[cal_row.id], dict(p.escalation or {})
        )
    return Catalog(
        priorities=priorities,
        queues=queues,
        queues_by_id={q.id: q for q in queues.values()},
        category_queue=category_queue,
        triage_queue=triage_queue,
        matrix=matrix,
        ruleset=ruleset,
        policies=policies,
        problems=tuple(problems),
    )


# Every table load_catalog reads, whole and in a fixed order: equal rows compile to an equal
# catalog, so a worker whose TTL ran out recompiles only when one of them changed.
_SOURCES = [
    select(*table.__table__.columns).order_by(*table.__table__.primary_key.columns)
    for table in (Priority, Queue, Category, Setting, Rule, SlaPolicy, BusinessCalendarRow)
]


def catalog_source(s: Session, now: datetime) -> tuple[Any, ...]:
    """Return what load_catalog would compile: the rows it reads and the year it builds around."""
    return (now.year, *(tuple(s.execute(query)) for query in _SOURCES))


class CatalogCache:
    """Keeps one compiled catalog per worker and re-reads it after a few seconds."""

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self._lock = threading.Lock()
        self._catalog: Catalog | None = None
        self._source: tuple[Any, ...] = ()
        self._loaded_at = 0.0

    def get(self, s: Session, now: datetime) -> Catalog:
        """Return the cached catalog, reloading it when older than the TTL."""
        catalog = self._catalog
        if catalog is not None and time.monotonic() - self._loaded_at < self.ttl:
            return catalog
        # While one thread reloads (about 8 ms), the others keep the snapshot they have instead of
        # queueing behind the lock, as ModelServer does; only the first load makes them wait.
        if not self._lock.acquire(blocking=catalog is None):
            return catalog  # type: ignore[return-value] - not None: blocking=False only then
        try:
            if self._catalog is None or time.monotonic() - self._loaded_at >= self.ttl:
                # Reading the rows costs a tenth of compiling them (rules, holiday calendars),
                # and this runs on a request's path every TTL.
                source = catalog_source(s, now)
                if self._catalog is None or source != self._source:
                    self._catalog = load_catalog(s, now)
                    self._source = source
                self._loaded_at = time.monotonic()
            return self._catalog
        finally:
            self._lock.release()
