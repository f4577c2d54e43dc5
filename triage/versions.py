"""Model versions in the database: register a trained version, activate it, roll back."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from triage import gate, model_store, retraining, training
from triage.serving import activation_stack, active_versions
from triage.tables import ModelActivation, ModelStatus, ModelVersion, utcnow

TARGETS = ("priority", "category")
DEMO_TEXT_COLUMNS = ("subject", "description")
DEMO_CONTEXT_COLUMNS = ("customer_tier", "channel", "stated_urgency", "impact")


class VersionError(ValueError):
    """A version cannot be registered, activated or rolled back; the message says why."""


class GateRefused(VersionError):
    """The gate found the candidate worse than the active version beyond the tolerance."""

    def __init__(self, message: str, result: dict[str, Any]):
        super().__init__(message)
        self.result = result


def models_dir() -> Path:
    """Return the folder holding the model versions of the current app."""
    return Path(current_app.config["MODELS_DIR"])


def register_version(
    s: Session, manifest: dict[str, Any], *, actor: str, gate_result: dict[str, Any] | None = None
) -> ModelVersion:
    """Record a saved version as a candidate."""
    row = new_version_row(manifest, actor=actor)
    row.gate = gate_result
    s.add(row)
    s.flush()
    return row


def new_version_row(manifest: dict[str, Any], *, actor: str) -> ModelVersion:
    """Return the (unsaved) row describing a saved version."""
    return ModelVersion(
        version=manifest["version"],
        targets=list(manifest["targets"]),
        status=ModelStatus.CANDIDATE,
        manifest=manifest,
        metrics=manifest.get("metrics", {}),
        parent_version=manifest.get("parent"),
        created_by=actor,
        created_at=utcnow(),
    )


def get_version(s: Session, version: str) -> ModelVersion:
    """Return a registered version or raise VersionError."""
    row = s.scalar(select(ModelVersion).where(ModelVersion.version == version))
    if row is None:
        raise VersionError(f"no model version {version!r} is registered")
    return row


def _refresh_statuses(s: Session) -> None:
    active = {v for v in active_versions(s).values() if v}
    for row in s.scalars(select(ModelVersion)):
        if row.version in active:
            row.status = ModelStatus.ACTIVE
        elif row.status == ModelStatus.ACTIVE:
            row.status = ModelStatus.RETIRED


def run_gate(s: Session, version: str) -> dict[str, Any]:
    """Compare a version with the active ones on the gate's data and store the result on it."""
    return _gate(s, get_version(s, version))


def _gate(s: Session, row: ModelVersion) -> dict[str, Any]:
    config = current_app.config
    try:
        return gate.run_gate(
            s,
            row,
            models_dir=models_dir(),
            tolerance=float(config["MODEL_GATE_TOLERANCE"]),
            min_rows=int(config["MODEL_GATE_MIN_ROWS"]),
            frozen_share=float(config["FEEDBACK_FROZEN_EVAL_SHARE"]),
            recent=int(config["FEEDBACK_RECENT_HOLDOUT"]),
            now=utcnow(),
        )
    except model_store.ModelLoadError as exc:
        raise VersionError(f"the gate cannot run: {exc}") from exc


def _gate_refusal(result: dict[str, Any], targets: Sequence[str]) -> str | None:
    failed = [
        (t, e) for t, e in result["targets"].items() if t in targets and not e.get("passed", True)
    ]
    if not failed:
        return None
    parts = [
        f"{t}: macro-F1 {e['candidate']['macro_f1']:.3f} vs {e['active']['macro_f1']:.3f} "
        f"for the active {e['active_version']} on {e['rows']} rows"
        for t, e in failed
    ]
    return (
        "the gate refuses this version: "
        + "; ".join(parts)
        + f" (tolerance {result['tolerance']}); force it to activate anyway"
    )


def activate(
    s: Session,
    version: str,
    *,
    actor: str,
    reason: str | None = None,
    targets: Sequence[str] | None = None,
    force: bool = False,
) -> list[ModelActivation]:
    """Make version serve its targets (all unless given) once it loads and passes the gate.

    The gate compares it with the versions serving now (run again if the stored result is
    older than the current activations); a refusal is overridden only by force, and the
    activation log then says so.
    """
    row = get_version(s, version)
    wanted = list(targets or row.targets)
    missing = [t for t in wanted if t not in row.targets]
    if missing:
        raise VersionError(f"version {version} has no model for {', '.join(missing)}")
    try:
        model_store.load_version(models_dir(), version)
    except model_store.ModelLoadError as exc:
        raise VersionError(f"version {version} cannot be activated: {exc}") from exc
    serving = active_versions(s)
    if any(serving.get(t) not in (None, version) for t in wanted):
        result = row.gate if gate.is_current(row.gate, serving) else run_gate(s, version)
        refusal = _gate_refusal(result, wanted)
        if refusal and not force:
            raise GateRefused(refusal, result)
        if refusal:
            reason = f"{reason or 'no reason given'} [forced past the gate: {refusal}]"
    rows = _log(s, version, wanted, "activate", actor, reason)
    s.flush()
    _refresh_statuses(s)
    return rows


def rollback(
    s: Session, *, actor: str, reason: str | None = None, targets: Sequence[str] = TARGETS
) -> dict[str, str]:
    """Return each target to the version that served before the current one."""
    done: dict[str, str] = {}
    for target in targets:
        stack = activation_stack(s, target)
        if len(stack) < 2:
            continue
        previous = stack[-2]
        _log(s, previous, [target], "rollback", actor, reason)
        done[target] = previous
    if not done:
        raise VersionError("there is no earlier version to roll back to")
    s.flush()
    _refresh_statuses(s)
    return done


def set_shadow(s: Session, version: str, *, actor: str, reason: str | None = None) -> None:
    """Let version predict beside the serving models on stored tickets, deciding nothing."""
    row = get_version(s, version)
    if row.status == ModelStatus.ACTIVE:
        raise VersionError(f"version {version} is active; only a candidate can shadow")
    try:
        model_store.load_version(models_dir(), version)
    except model_store.ModelLoadError as exc:
        raise VersionError(f"version {version} cannot shadow: {exc}") from exc
    for other in s.scalars(select(ModelVersion).where(ModelVersion.status == ModelStatus.SHADOW)):
        if other.version != version:
            _log(s, other.version, other.targets, "unshadow", actor, f"replaced by {version}")
            other.status = ModelStatus.CANDIDATE
    if row.status != ModelStatus.SHADOW:
        _log(s, row.version, row.targets, "shadow", actor, reason)
        row.status = ModelStatus.SHADOW
    s.flush()


def clear_shadow(s: Session, version: str, *, actor: str, reason: str | None = None) -> None:
    """Stop a version's shadow predictions."""
    row = get_version(s, version)
    if row.status != ModelStatus.SHADOW:
        raise VersionError(f"version {version} is not in shadow mode")
    _log(s, row.version, row.targets, "unshadow", actor, reason)
    row.status = ModelStatus.CANDIDATE
    s.flush()


def _log(
    s: Session,
    version: str,
    targets: Sequence[str],
    action: str,
    actor: str,
    reason: str | None,
) -> list[ModelActivation]:
    """Append one activation-log row per target."""
    now = utcnow()
    rows = [
        ModelActivation(
            target=t, version=version, action=action, actor=actor, reason=reason, at=now
        )
        for t in targets
    ]
    s.add_all(rows)
    return rows


def parent_version(s: Session) -> str | None:
    """Return the version a new one descends from: the one serving categories (or priorities)."""
    current = active_versions(s)
    return current.get("category") or current.get("priority")


def train_from_feedback(
    s: Session,
    *,
    actor: str,
    base: dict[str, Any] | None,
    min_class_rows: int = training.MIN_CLASS_ROWS,
    progress: Callable[[str, float], None] | None = None,
) -> ModelVersion:
    """Train a candidate on the base data plus agents' labels (minus the gate's rows), gate it."""
    config = current_app.config
    report = progress or (lambda step, fraction: None)
    report("reading feedback", 0.0)
    rows = retraining.load_feedback(s)
    split = retraining.split_feedback(
        rows,
        frozen_share=float(config["FEEDBACK_FROZEN_EVAL_SHARE"]),
        recent=int(config["FEEDBACK_RECENT_HOLDOUT"]),
    )
    base_data = retraining.base_data(base, min_class_rows=min_class_rows)
    sets = retraining.training_sets(split.train, base_data, min_class_rows=min_class_rows)

    def fit_step(step: str, fraction: float) -> None:
        report(step, 0.02 + 0.88 * fraction)

    result = retraining.train_targets(sets, progress=fit_step)
    until = split.trained_until
    info = {
        **result.training,
        "feedback": {
            "rows": len(split.train),
            "corrections": sum(r.was_corrected for r in split.train),
            "held_out_frozen": len(split.frozen),
            "held_out_recent": len(split.recent),
            "trained_until": until.isoformat() if until else None,
        },
        "base": dict(base) if base else None,
    }
    report("saving the version", 0.9)
    manifest = model_store.save_version(
        models_dir(),
        result.pipelines,
        training=info,
        metrics=result.metrics,
        parent=parent_version(s),
        now=utcnow(),
    )
    try:
        # Gate before registering: the session writes nothing until the end, so progress
        # reports (their own sessions) never wait for its lock on SQLite.
        report("gating against the active version", 0.93)
        gate_result = _gate(s, new_version_row(manifest, actor=actor))
        report("registering the candidate", 0.99)
        row = register_version(s, manifest, actor=actor, gate_result=gate_result)
    except BaseException:
        discard_version(manifest["version"])
        raise
    return row


def discard_version(version: str) -> None:
    """Remove a saved version's folder that never got registered."""
    if model_store.is_version_id(version):
        shutil.rmtree(models_dir() / version, ignore_errors=True)


def train_and_register(
    s: Session,
    data: training.TrainingData,
    *,
    actor: str,
    parent: str | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> ModelVersion:
    """Train on data, save the version atomically, register it as a candidate and gate it."""
    result = training.train(data, progress=progress)
    manifest = model_store.save_version(
        models_dir(),
        result.pipelines,
        training=result.training,
        metrics=result.metrics,
        parent=parent,
        now=utcnow(),
    )
    row = register_version(s, manifest, actor=actor)
    if any(active_versions(s).values()):
        run_gate(s, row.version)
    return row


def demo_data() -> training.TrainingData:
    """Return the demo tickets (pt and en) as the demo model is trained on them."""
    path = resources.files("triage").joinpath("demo/tickets.csv")
    with resources.as_file(path) as csv_path:
        return training.load_csv(
            csv_path,
            text_columns=DEMO_TEXT_COLUMNS,
            priority_column="priority",
            category_column="category",
            context_columns=DEMO_CONTEXT_COLUMNS,
        )


def ensure_demo_model(s: Session, *, echo: Callable[[str], None]) -> str | None:
    """Train and activate the demo model when no version serves yet; returns its version."""
    if any(active_versions(s).values()):
        return None
    data = demo_data()
    echo(f"training the demo model on {len(data.records)} synthetic tickets ...")
    row = train_and_register(s, data, actor="setup")
    activate(s, row.version, actor="setup", reason="demo model trained on first run")
    s.commit()
    metrics = row.metrics
    summary = ", ".join(
        f"{t} macro-F1 {metrics[t]['macro_f1']:.2f}" for t in row.targets if t in metrics
    )
    echo(f"demo model {row.version} active ({summary}; synthetic data, held-out split)")
    return row.version
