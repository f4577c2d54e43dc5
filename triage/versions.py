"""Model versions in the database: register a trained version, activate it, roll back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from triage import model_store, training
from triage.serving import activation_stack, active_versions
from triage.tables import ModelActivation, ModelStatus, ModelVersion, utcnow

TARGETS = ("priority", "category")
DEMO_TEXT_COLUMNS = ("subject", "description")
DEMO_CONTEXT_COLUMNS = ("customer_tier", "channel", "stated_urgency", "impact")


class VersionError(ValueError):
    """A version cannot be registered, activated or rolled back; the message says why."""


def models_dir() -> Path:
    """Return the folder holding the model versions of the current app."""
    return Path(current_app.config["MODELS_DIR"])


def register_version(s: Session, manifest: dict[str, Any], *, actor: str) -> ModelVersion:
    """Record a saved version as a candidate."""
    row = ModelVersion(
        version=manifest["version"],
        targets=list(manifest["targets"]),
        status=ModelStatus.CANDIDATE,
        manifest=manifest,
        metrics=manifest.get("metrics", {}),
        parent_version=manifest.get("parent"),
        created_by=actor,
    )
    s.add(row)
    s.flush()
    return row


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


def activate(
    s: Session,
    version: str,
    *,
    actor: str,
    reason: str | None = None,
    targets: Sequence[str] | None = None,
    action: str = "activate",
) -> list[ModelActivation]:
    """Make version serve its targets (all of them unless given); it must load cleanly first."""
    row = get_version(s, version)
    wanted = list(targets or row.targets)
    missing = [t for t in wanted if t not in row.targets]
    if missing:
        raise VersionError(f"version {version} has no model for {', '.join(missing)}")
    try:
        model_store.load_version(models_dir(), version)
    except model_store.ModelLoadError as exc:
        raise VersionError(f"version {version} cannot be activated: {exc}") from exc
    now = utcnow()
    rows = [
        ModelActivation(
            target=t, version=version, action=action, actor=actor, reason=reason, at=now
        )
        for t in wanted
    ]
    s.add_all(rows)
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
        s.add(
            ModelActivation(
                target=target,
                version=previous,
                action="rollback",
                actor=actor,
                reason=reason,
                at=utcnow(),
            )
        )
        done[target] = previous
    if not done:
        raise VersionError("there is no earlier version to roll back to")
    s.flush()
    _refresh_statuses(s)
    return done


def train_and_register(
    s: Session,
    data: training.TrainingData,
    *,
    actor: str,
    parent: str | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> ModelVersion:
    """Train on data, save the version atomically and register it as a candidate."""
    result = training.train(data, progress=progress)
    manifest = model_store.save_version(
        models_dir(),
        result.pipelines,
        training=result.training,
        metrics=result.metrics,
        parent=parent,
        now=utcnow(),
    )
    return register_version(s, manifest, actor=actor)


def ensure_demo_model(s: Session, *, echo: Callable[[str], None]) -> str | None:
    """Train and activate the demo model when no version serves yet; returns its version."""
    if any(active_versions(s).values()):
        return None
    path = resources.files("triage").joinpath("demo/tickets.csv")
    with resources.as_file(path) as csv_path:
        data = training.load_csv(
            csv_path,
            text_columns=DEMO_TEXT_COLUMNS,
            priority_column="priority",
            category_column="category",
            context_columns=DEMO_CONTEXT_COLUMNS,
        )
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
