"""Retraining from feedback: which human labels a new version learns from, and which it never sees.

Every human-labelled ticket is in one of three groups:
- frozen: a fixed share of tickets, chosen by ticket id, that no feedback training run ever uses;
  the gate's frozen evaluation set;
- recent: the newest labels, held out of this run so the gate can judge the candidate on the
  corrections that came last (the ones most likely to show a change in the tickets);
- train: everything else, added to the base data (a CSV export, or the demo data by default).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from triage import training
from triage.feedback import TARGETS, FeedbackRow, feedback_rows

CONTEXT_KEYS = ("customer_tier", "channel", "stated_urgency", "impact")
TEXT_KEYS = ("subject", "description")


@dataclass(frozen=True)
class FeedbackSplit:
    """Human-labelled tickets split into training rows and the two held-out groups."""

    train: list[FeedbackRow]
    frozen: list[FeedbackRow]
    recent: list[FeedbackRow]

    @property
    def trained_until(self) -> datetime | None:
        """Return the newest label time among the training rows (later labels were not seen)."""
        times = [r.labelled_at for r in self.train if r.labelled_at is not None]
        return max(times) if times else None


def is_frozen(ticket_id: int, share: float) -> bool:
    """Tell whether a ticket belongs to the frozen evaluation set (stable for a given share)."""
    digest = hashlib.sha256(f"triage-frozen-eval:{ticket_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def split_feedback(
    rows: Sequence[FeedbackRow], *, frozen_share: float, recent: int
) -> FeedbackSplit:
    """Split labelled rows into train, frozen and recent (the newest non-frozen rows, at most
    `recent` of them and at most a fifth)."""
    frozen = [r for r in rows if is_frozen(r.ticket_id, frozen_share)]
    rest = sorted(
        (r for r in rows if not is_frozen(r.ticket_id, frozen_share)),
        key=lambda r: (r.labelled_at is not None, r.labelled_at or datetime.min, r.ticket_id),
    )
    # Never hold out more than a fifth of the rows: a small team's labels are mostly for training.
    held = min(max(recent, 0), len(rest) // 5)
    cut = len(rest) - held
    return FeedbackSplit(train=rest[:cut], frozen=frozen, recent=rest[cut:])


def load_feedback(s: Session) -> list[FeedbackRow]:
    """Return every human-labelled ticket as a feedback row."""
    return list(feedback_rows(s))


def base_data(
    spec: Mapping[str, Any] | None, *, min_class_rows: int
) -> training.TrainingData | None:
    """Load the base data a retrain adds feedback to; "demo" names the bundled demo tickets."""
    if not spec:
        return None
    options = dict(
        text_columns=tuple(spec["text_columns"]),
        priority_column=spec.get("priority_column"),
        category_column=spec.get("category_column"),
        context_columns=tuple(spec.get("context_columns") or ()),
        min_class_rows=min_class_rows,
    )
    if spec["path"] == "demo":
        path = resources.files("triage").joinpath("demo/tickets.csv")
        with resources.as_file(path) as csv_path:
            return training.load_csv(csv_path, **options)
    return training.load_csv(Path(spec["path"]), **options)


def _feedback_row(row: FeedbackRow, target: str) -> dict[str, Any]:
    return {**row.record(), "label": getattr(row, target)}


def training_sets(
    rows: Sequence[FeedbackRow],
    base: training.TrainingData | None,
    *,
    min_class_rows: int,
) -> dict[str, training.TrainingData]:
    """Build one data set per target: the base rows plus the feedback rows labelled for it."""
    sets: dict[str, training.TrainingData] = {}
    for target in TARGETS:
        items: list[dict[str, Any]] = []
        if base is not None and target in base.labels:
            items += [
                {**record, "label": label}
                for record, label in zip(base.records, base.labels[target], strict=True)
            ]
        labelled = [r for r in rows if getattr(r, target) is not None]
        items += [_feedback_row(r, target) for r in labelled]
        if not labelled and (base is None or target not in base.labels):
            continue
        context = [k for k in CONTEXT_KEYS if any(k in item for item in items)]
        source = f"{len(labelled)} feedback rows" + (f" + {base.source}" if base else "")
        sets[target] = training.TrainingData.from_rows(
            items,
            text_columns=TEXT_KEYS,
            priority_column="label" if target == "priority" else None,
            category_column="label" if target == "category" else None,
            context_columns=context,
            source=source,
            min_class_rows=min_class_rows,
        )
    if not sets:
        raise training.TrainingDataError(
            "nothing to train on: no human-labelled tickets and no base data"
        )
    return sets


def train_targets(
    sets: Mapping[str, training.TrainingData],
    *,
    progress: Callable[[str, float], None] | None = None,
) -> training.TrainResult:
    """Train each target on its own data set and merge the results into one version's content."""
    report = progress or (lambda step, fraction: None)
    total = sum(len(d) for d in sets.values()) or 1
    done = 0
    pipelines: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    per_target: dict[str, Any] = {}
    for target, data in sets.items():
        start, share = done / total, len(data) / total

        def step(text: str, fraction: float, start: float = start, share: float = share) -> None:
            report(text, start + share * fraction)

        result = training.train(data, progress=step)
        pipelines.update(result.pipelines)
        metrics.update(result.metrics)
        per_target[target] = result.training
        done += len(data)
    report("done", 1.0)
    first = next(iter(per_target.values()))
    info = {
        "fingerprint": hashlib.sha256(
            "".join(per_target[t]["fingerprint"] for t in sorted(per_target)).encode()
        ).hexdigest(),
        "rows": sum(p["rows"] for p in per_target.values()),
        "source": "; ".join(f"{t}: {p['source']}" for t, p in per_target.items()),
        "holdout": first["holdout"],
        "seed": first["seed"],
        "hyper": first["hyper"],
        "per_target": per_target,
    }
    return training.TrainResult(pipelines, metrics, info)
