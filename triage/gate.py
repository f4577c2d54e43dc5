"""The gate: a candidate version against the active one, on the same labelled tickets.

The gate's data is the frozen evaluation set plus the newest human labels the candidate did not
train on. Both versions predict those tickets; macro-F1, accuracy, calibration and per-class F1
are compared per target, and the result is stored with the candidate. A candidate whose macro-F1
is lower than the active version's by more than the tolerance does not pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from triage import model_store, training
from triage.feedback import TARGETS, FeedbackRow
from triage.retraining import is_frozen, load_feedback, split_feedback
from triage.serving import active_versions
from triage.tables import ModelVersion


def gate_rows(
    rows: Sequence[FeedbackRow],
    manifest: Mapping[str, Any],
    *,
    frozen_share: float,
    recent: int,
) -> tuple[list[FeedbackRow], dict[str, int]]:
    """Return the rows that judge a candidate: frozen ones plus recent labels it never saw."""
    split = split_feedback(rows, frozen_share=frozen_share, recent=recent)
    feedback = (manifest.get("training") or {}).get("feedback") or {}
    if feedback:
        until = feedback.get("trained_until")
        cutoff = datetime.fromisoformat(until) if until else None
        later = [
            r
            for r in rows
            if not is_frozen(r.ticket_id, frozen_share)
            and (cutoff is None or (r.labelled_at is not None and r.labelled_at > cutoff))
        ]
    else:
        # Trained from a CSV export: its rows are unknown here, so take the newest labels.
        later = split.recent
    return [*split.frozen, *later], {"frozen": len(split.frozen), "recent": len(later)}


def _summary(metrics: Mapping[str, Any]) -> dict[str, Any]:
    return {k: metrics[k] for k in ("n", "accuracy", "macro_f1", "ece")}


def compare(
    candidate: model_store.LoadedModel,
    active: Mapping[str, model_store.LoadedModel],
    rows: Sequence[FeedbackRow],
    *,
    tolerance: float,
    min_rows: int,
) -> dict[str, dict[str, Any]]:
    """Score the candidate and the active version of each target on the same rows."""
    results: dict[str, dict[str, Any]] = {}
    for target in candidate.pipelines:
        labelled = [r for r in rows if getattr(r, target) is not None]
        current = active.get(target)
        entry: dict[str, Any] = {
            "rows": len(labelled),
            "active_version": current.version if current else None,
        }
        if current is None or current.version == candidate.version:
            entry.update(verdict="no_active_version", passed=True)
            results[target] = entry
            continue
        if len(labelled) < min_rows:
            entry.update(verdict="inconclusive", passed=True)
            entry["note"] = f"{len(labelled)} labelled rows; the gate needs {min_rows}"
            results[target] = entry
            continue
        records = [r.record() for r in labelled]
        labels = [getattr(r, target) for r in labelled]
        cand = training.evaluate(candidate.pipelines[target], records, labels)
        act = training.evaluate(current.pipelines[target], records, labels)
        delta = cand["macro_f1"] - act["macro_f1"]
        per_class = {
            label: {
                "support": figures["support"],
                "candidate_f1": figures["f1"],
                "active_f1": act["per_class"].get(label, {}).get("f1", 0.0),
                "delta_f1": figures["f1"] - act["per_class"].get(label, {}).get("f1", 0.0),
            }
            for label, figures in cand["per_class"].items()
            if figures["support"] > 0
        }
        if delta > tolerance:
            verdict = "better"
        elif delta >= -tolerance:
            verdict = "within_tolerance"
        else:
            verdict = "worse"
        entry.update(
            candidate=_summary(cand),
            active=_summary(act),
            delta_macro_f1=delta,
            per_class=per_class,
            verdict=verdict,
            passed=verdict != "worse",
        )
        results[target] = entry
    return results


def run_gate(
    s: Session,
    row: ModelVersion,
    *,
    models_dir: Path,
    tolerance: float,
    min_rows: int,
    frozen_share: float,
    recent: int,
    now: datetime,
) -> dict[str, Any]:
    """Compare a registered version with the active ones, store the result on it and return it."""
    candidate = model_store.load_version(models_dir, row.version)
    serving = active_versions(s)
    active: dict[str, model_store.LoadedModel] = {}
    loaded: dict[str, model_store.LoadedModel] = {}
    for target in TARGETS:
        version = serving.get(target)
        if not version or target not in candidate.pipelines:
            continue
        if version not in loaded:
            loaded[version] = model_store.load_version(models_dir, version)
        active[target] = loaded[version]
    rows, counts = gate_rows(
        load_feedback(s), row.manifest, frozen_share=frozen_share, recent=recent
    )
    targets = compare(candidate, active, rows, tolerance=tolerance, min_rows=min_rows)
    result = {
        "at": now.isoformat(),
        "tolerance": tolerance,
        "min_rows": min_rows,
        "rows": counts,
        "active": {t: e["active_version"] for t, e in targets.items()},
        "targets": targets,
        "passed": all(e["passed"] for e in targets.values()),
    }
    row.gate = result
    s.flush()
    return result


def is_current(gate: Mapping[str, Any] | None, serving: Mapping[str, str | None]) -> bool:
    """Tell whether a stored gate result compared against the versions serving now."""
    if not gate:
        return False
    return all(serving.get(t) == v for t, v in (gate.get("active") or {}).items())
