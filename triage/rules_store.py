"""Rules and the priority matrix as database rows: validated when saved, never at triage time."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from triage import rules as rules_mod
from triage.catalog import rule_spec
from triage.priority_matrix import PriorityMatrix
from triage.tables import Category, Priority, Queue, Rule, Setting, utcnow


def _names(s: Session) -> dict[str, object]:
    return {
        "priorities": tuple(s.scalars(select(Priority.name).order_by(Priority.rank))),
        "queues": set(s.scalars(select(Queue.name))),
        "categories": set(s.scalars(select(Category.name))) or None,
    }


def current_rules(s: Session) -> list[rules_mod.RuleSpec]:
    """Return the stored rules in evaluation order."""
    return [rule_spec(r) for r in s.scalars(select(Rule).order_by(Rule.position, Rule.name))]


def validate_rules(s: Session, specs: Sequence[rules_mod.RuleSpec]) -> rules_mod.RuleSet:
    """Compile rules against the team's priorities, queues and categories; RuleError if invalid."""
    return rules_mod.compile_ruleset(specs, **_names(s))  # type: ignore[arg-type]


def write_spec(row: Rule, spec: rules_mod.RuleSpec) -> Rule:
    """Copy a spec onto a rule row (the one place a spec becomes a row)."""
    data = spec.model_dump(mode="json")
    row.name, row.description, row.position = spec.name, spec.description, spec.position
    row.enabled, row.stop, row.override_human = spec.enabled, spec.stop, spec.override_human
    row.match_all, row.conditions, row.actions = spec.match_all, data["conditions"], data["actions"]
    row.updated_at = utcnow()
    return row


def replace_rules(s: Session, specs: Sequence[rules_mod.RuleSpec]) -> int:
    """Replace the whole rule set after validating it (the caller commits); returns the count."""
    validate_rules(s, specs)
    s.execute(delete(Rule))
    s.add_all(write_spec(Rule(), spec) for spec in specs)
    s.flush()
    return len(specs)


def save_rule(s: Session, spec: rules_mod.RuleSpec) -> Rule:
    """Add or update one rule, validating the whole set it would make."""
    others = [r for r in current_rules(s) if r.name != spec.name]
    validate_rules(s, [*others, spec])
    row = s.scalar(select(Rule).where(Rule.name == spec.name)) or Rule()
    s.add(write_spec(row, spec))
    s.flush()
    return row


def set_matrix(s: Session, data: object) -> PriorityMatrix:
    """Store a priority matrix after checking it is complete and its priorities exist."""
    priorities = list(_names(s)["priorities"])  # type: ignore[call-overload]
    matrix = PriorityMatrix.model_validate(data, context={"priorities": priorities})
    row = s.get(Setting, "priority_matrix") or Setting(key="priority_matrix")
    row.value = matrix.model_dump(mode="json")
    row.updated_at = utcnow()
    s.add(row)
    s.flush()
    return matrix
