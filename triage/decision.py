"""The decision: the model proposes, the priority matrix weighs impact, the rules dispose.

For each ticket:
1. The active model of each target predicts a label with a calibrated confidence.
2. The priority matrix maps impact x stated urgency to a priority (no impact given: no matrix).
3. ``combine_priority`` joins them: the more urgent of the two, except that a model below its
   review threshold does not count when the matrix has an answer (priority_matrix.py).
   With neither, the catalog's default priority is used (source "default").
4. Rules run last, in their stated order (rules.py); a rule that sets a field wins over 1-3.
5. The queue is the rule's queue, else the triage queue when the category is missing or below
   its threshold, else the category's queue.
6. The SLA policy of the final priority and the customer's tier gives the due times.
Every field records its source ("model:<version>", "matrix", "rule:<name>", "default",
"routing:<category>", "review") and, where a model decided, its confidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from triage import rules as rules_mod
from triage import sla
from triage.catalog import Catalog
from triage.classifier import Prediction, predict
from triage.priority_matrix import combine_priority, matrix_priority
from triage.schemas import DecisionOut
from triage.serving import ServingModels
from triage.text import detect_language


@dataclass(frozen=True)
class TicketFacts:
    """What the decision knows about a ticket at intake."""

    subject: str
    description: str
    customer: str | None = None
    tier: str | None = None
    channel: str | None = None
    stated_urgency: str | None = None
    impact: str | None = None
    language: str | None = None

    def record(self) -> dict[str, str | None]:
        """Return the record the classifier pipelines take."""
        return {
            "subject": self.subject,
            "description": self.description,
            "customer_tier": self.tier,
            "channel": self.channel,
            "stated_urgency": self.stated_urgency,
            "impact": self.impact,
            "language": self.language,
        }


def predict_all(models: ServingModels, facts: TicketFacts) -> dict[str, Prediction]:
    """Run every served model on the ticket."""
    record = facts.record()
    return {
        target: predict(model.pipelines[target], [record])[0]
        for target, model in models.by_target.items()
    }


def _field(pred: Prediction | None, version: str | None, threshold: float) -> dict[str, Any]:
    """Return a field's decision as DecisionOut validates it (one validation per decision)."""
    if pred is None:
        return {"value": None, "source": "default"}
    return {
        "value": pred.label,
        "source": f"model:{version}",
        "confidence": round(pred.confidence, 4),
        "needs_review": pred.confidence < threshold,
        "model_label": pred.label,
        "alternatives": [
            {"label": lbl, "probability": round(p, 4)} for lbl, p in pred.alternatives
        ],
        "explanation": [{"term": t, "weight": round(w, 4)} for t, w in pred.explanation],
    }


def decide(
    facts: TicketFacts,
    *,
    catalog: Catalog,
    models: ServingModels,
    thresholds: Mapping[str, float],
    now: datetime,
    predictions: Mapping[str, Prediction] | None = None,
) -> DecisionOut:
    """Decide priority, category, queue and SLA for one ticket, recording why."""
    preds = predict_all(models, facts) if predictions is None else predictions
    language = facts.language or detect_language(f"{facts.subject}\n{facts.description}")
    reasons: list[str] = []

    priority = _field(preds.get("priority"), models.version("priority"), thresholds["priority"])
    model_priority = None
    if priority["value"] is not None:
        if priority["value"] in catalog.priorities:
            model_priority = (priority["value"], priority.get("confidence") or 0.0)
        else:
            reasons.append(f"model priority '{priority['value']}' is not a configured priority")
    matrix_value = matrix_priority(catalog.matrix, facts.impact, facts.stated_urgency)
    combined, winner = combine_priority(
        model_priority,
        matrix_value,
        priorities=catalog.priorities,
        threshold=thresholds["priority"],
    )
    if winner == "matrix":
        priority.update(value=combined, source="matrix")
    elif winner == "none":
        priority.update(value=catalog.default_priority, source="default")
    elif priority.get("needs_review"):
        reasons.append("priority confidence below threshold")

    category = _field(preds.get("category"), models.version("category"), thresholds["category"])
    if category["value"] is None:
        reasons.append("no category model")
    elif category.get("needs_review"):
        reasons.append("category confidence below threshold")

    rule_facts = rules_mod.TicketFacts(
        subject=facts.subject,
        description=facts.description,
        customer=facts.customer,
        tier=facts.tier,
        channel=facts.channel,
        stated_urgency=facts.stated_urgency,
        impact=facts.impact,
        predicted={t: (p.label, p.confidence) for t, p in preds.items()},
        human_set=frozenset(),
    )
    outcome = rules_mod.evaluate(catalog.ruleset, rule_facts, base_priority=priority["value"])
    if outcome.priority is not None:
        value, rule = outcome.priority
        priority.update(value=value, source=f"rule:{rule}")
    if outcome.category is not None:
        value, rule = outcome.category
        category.update(value=value, source=f"rule:{rule}")
        reasons = [r for r in reasons if not r.startswith(("category", "no category"))]
    if outcome.needs_review:
        reasons.extend(f"rule {name} asks for review" for name in outcome.review_rules)

    if outcome.queue is not None:
        queue_name, rule = outcome.queue
        queue_source = f"rule:{rule}"
    elif (
        category["value"] is None
        or category["value"] not in catalog.category_queue
        or (category.get("needs_review") and category["source"].startswith("model:"))
    ):
        queue_name, queue_source = catalog.triage_queue.name, "review"
        if category["value"] is not None and category["value"] not in catalog.category_queue:
            reasons.append(f"category '{category['value']}' has no queue")
    else:
        queue_name = catalog.category_queue[category["value"]]
        queue_source = f"routing:{category['value']}"
    queue = catalog.queues[queue_name]

    assert priority["value"] is not None
    policy = catalog.policy_for(priority["value"], facts.tier)
    if policy is None:
        sla_out: dict[str, Any] = {
            "policy": None,
            "calendar": None,
            "state": "ok",
            "first_response_due_at": None,
            "resolution_due_at": None,
        }
    else:
        clock = sla.start_clock(now)
        due = sla.due_times(clock, policy.calendar, policy.targets, now)
        sla_out = {
            "policy": policy.name,
            "calendar": policy.calendar_name,
            "state": "ok",
            "first_response_due_at": due.first_response_due,
            "resolution_due_at": due.resolution_due,
            "at_risk_at": sla.at_risk_at(clock, policy.calendar, policy.targets, now),
        }

    versions = {t: m.version for t, m in models.by_target.items()}
    # Built as plain data and validated once: a model per term and alternative cost twice as much.
    return DecisionOut.model_validate(
        {
            "priority": priority,
            "category": category,
            "queue": {"name": queue.name, "title": queue.title, "source": queue_source},
            "needs_review": bool(reasons),
            "review_reasons": reasons,
            "tags": list(outcome.tags),
            "rules_fired": [{"name": f.name, "matched": list(f.matched)} for f in outcome.fired],
            "matrix": {
                "impact": facts.impact,
                "urgency": facts.stated_urgency,
                "priority": matrix_value,
            },
            "language": language,
            "model_versions": versions,
            "mode": "model" if versions else "rules_only",
            "sla": sla_out,
        }
    )
