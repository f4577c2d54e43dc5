"""Pydantic models of the model-version API: training jobs, activation, shadow, monitoring."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from triage.schemas import Out, Reason, Strict

Target = Literal["priority", "category"]


class TrainRequest(Strict):
    """Start a training job on agents' feedback."""

    base_data: bool = Field(
        True, description="Add the feedback to the configured base data (TRAINING_BASE_DATA)."
    )
    min_class_rows: int = Field(5, ge=2, le=1000, description="Fewest rows a class may have.")


class ActivateRequest(Strict):
    """Promote a version; the gate may refuse it unless forced."""

    reason: Reason | None = Field(None, description="Why, kept in the activation log.")
    force: bool = Field(False, description="Activate even if the gate finds it worse.")
    targets: list[Target] | None = Field(
        None, min_length=1, max_length=2, description="Only these targets (default: all)."
    )


class ReasonRequest(Strict):
    """An action that only needs a reason."""

    reason: Reason | None = Field(None, description="Why, kept in the activation log.")


class JobOut(Out):
    """A background job's state, progress and outcome."""

    id: str
    kind: str
    state: Literal["queued", "running", "succeeded", "failed"]
    backend: Literal["rq", "thread"]
    progress: float = Field(description="0 to 1.")
    message: str | None
    params: dict[str, Any]
    result: dict[str, Any] | None = Field(description="The new version, its metrics and gate.")
    error: str | None = Field(description="Why the job failed; the active model is unchanged.")
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class VersionOut(Out):
    """A registered model version."""

    version: str
    status: Literal["candidate", "active", "shadow", "retired"]
    targets: list[str]
    serving: list[str] = Field(description="Targets this version serves now.")
    parent_version: str | None
    created_at: datetime
    created_by: str | None
    metrics: dict[str, dict[str, Any]] = Field(
        description="Held-out accuracy, macro-F1 and ECE per target."
    )
    gate: dict[str, Any] | None = Field(description="The last comparison with the active version.")


class VersionDetail(VersionOut):
    """A model version with its whole manifest."""

    manifest: dict[str, Any]


class VersionList(Out):
    """Registered versions, newest first."""

    items: list[VersionOut]
    active: dict[str, str | None]
    shadow: str | None


class ActivationOut(Out):
    """Which version serves each target after an activation, rollback or shadow change."""

    active: dict[str, str | None]
    shadow: str | None
    message: str


class VersionStats(Out):
    """How a version does on live tickets."""

    version: str
    targets: dict[str, dict[str, Any]] = Field(
        description="Per target: predictions, corrected, correction_rate, per_class, by_day."
    )
    shadow: dict[str, dict[str, Any]] = Field(
        description="Per target, if it shadowed: agreement with the serving model and accuracy "
        "of both on agent-labelled tickets."
    )
