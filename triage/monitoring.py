"""How a model version does on live tickets: how often agents corrected it, and shadow agreement.

A version's predictions are the intake events it made (one per stored ticket and target, kept
even when a rule overrode the model); its corrections are the agents' correction events that
carry its version. Both are counted in SQL, by predicted class and by the day of the prediction.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from triage.feedback import TARGETS
from triage.tables import ShadowPrediction, Ticket, TicketEvent


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def target_stats(s: Session, version: str, target: str) -> dict[str, Any]:
    """Return predictions, corrected tickets and the correction rate overall, by class and day."""
    intake = (
        select(
            TicketEvent.ticket_id,
            TicketEvent.predicted_value.label("label"),
            func.date(TicketEvent.at).label("day"),
        )
        .where(
            TicketEvent.model_version == version,
            TicketEvent.field == target,
            TicketEvent.old_value.is_(None),
            TicketEvent.predicted_value.is_not(None),
            TicketEvent.is_correction.is_(False),
        )
        .subquery()
    )
    corrected = (
        select(TicketEvent.ticket_id)
        .where(
            TicketEvent.model_version == version,
            TicketEvent.field == target,
            TicketEvent.is_correction.is_(True),
        )
        .distinct()
        .subquery()
    )
    rows = s.execute(
        select(
            intake.c.day,
            intake.c.label,
            func.count(),
            func.count(corrected.c.ticket_id),
        )
        .select_from(intake)
        .outerjoin(corrected, corrected.c.ticket_id == intake.c.ticket_id)
        .group_by(intake.c.day, intake.c.label)
    ).all()
    per_class: dict[str, dict[str, Any]] = defaultdict(lambda: {"predictions": 0, "corrected": 0})
    by_day: dict[str, dict[str, Any]] = defaultdict(lambda: {"predictions": 0, "corrected": 0})
    for day, label, predicted, fixed in rows:
        for bucket in (per_class[label], by_day[str(day)]):
            bucket["predictions"] += predicted
            bucket["corrected"] += fixed
    changed_to = s.execute(
        select(
            TicketEvent.predicted_value,
            TicketEvent.new_value,
            func.count(func.distinct(TicketEvent.ticket_id)),
        )
        .where(
            TicketEvent.model_version == version,
            TicketEvent.field == target,
            TicketEvent.is_correction.is_(True),
        )
        .group_by(TicketEvent.predicted_value, TicketEvent.new_value)
    ).all()
    for predicted_label, new_value, count in changed_to:
        entry = per_class[predicted_label or ""]
        entry.setdefault("corrected_to", {})[new_value] = count
    for bucket in (*per_class.values(), *by_day.values()):
        bucket["correction_rate"] = _rate(bucket["corrected"], bucket["predictions"])
    total = sum(b["predictions"] for b in by_day.values())
    fixed_total = sum(b["corrected"] for b in by_day.values())
    return {
        "predictions": total,
        "corrected": fixed_total,
        "correction_rate": _rate(fixed_total, total),
        "per_class": dict(sorted(per_class.items())),
        "by_day": [{"day": day, **figures} for day, figures in sorted(by_day.items())],
    }


def shadow_agreement(s: Session, version: str) -> dict[str, dict[str, Any]]:
    """Return, per target, how often a shadow version agreed with the serving model.

    Where an agent labelled the ticket, also how often each of the two was right.
    """
    result: dict[str, dict[str, Any]] = {}
    for target in TARGETS:
        human = getattr(Ticket, f"{target}_human_set")
        truth = getattr(Ticket, target)
        shadow, serving = ShadowPrediction.label, ShadowPrediction.serving_label
        labelled = human.is_(True)
        row = s.execute(
            select(
                func.count(),
                func.sum(case((shadow == serving, 1), else_=0)),
                func.sum(case((labelled, 1), else_=0)),
                func.sum(case((and_(labelled, shadow == truth), 1), else_=0)),
                func.sum(case((and_(labelled, serving == truth), 1), else_=0)),
            )
            .select_from(ShadowPrediction)
            .join(Ticket, Ticket.id == ShadowPrediction.ticket_id)
            .where(ShadowPrediction.version == version, ShadowPrediction.target == target)
        ).one()
        count, agree, labelled, shadow_right, serving_right = (int(v or 0) for v in row)
        if not count:
            continue
        result[target] = {
            "predictions": count,
            "agreement": _rate(agree, count),
            "human_labelled": labelled,
            "shadow_accuracy": _rate(shadow_right, labelled),
            "serving_accuracy": _rate(serving_right, labelled),
        }
    return result


def version_stats(s: Session, version: str, targets: list[str]) -> dict[str, Any]:
    """Return a version's correction figures per target and, if it shadowed, its agreement."""
    return {
        "version": version,
        "targets": {t: target_stats(s, version, t) for t in targets},
        "shadow": shadow_agreement(s, version),
    }
