"""Views of /api/v1/models and /api/v1/jobs: retrain, gate, promote, roll back, shadow, monitor."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app
from sqlalchemy import select

from triage import db, jobs, monitoring
from triage.api import bp
from triage.api.spec import endpoint
from triage.auth import Principal
from triage.errors import ApiError
from triage.model_store import is_version_id
from triage.serving import active_versions, shadow_version
from triage.tables import ModelVersion, Scope, utcnow
from triage.version_schemas import (
    ActivateRequest,
    ActivationOut,
    JobOut,
    ReasonRequest,
    TrainRequest,
    VersionDetail,
    VersionList,
    VersionOut,
    VersionStats,
)
from triage.versions import (
    GateRefused,
    VersionError,
    activate,
    clear_shadow,
    get_version,
    rollback,
    set_shadow,
)

DATA_STAFF = (Scope.DATA_STAFF,)


def _job_out(job) -> JobOut:
    shown = jobs.view(
        job, now=utcnow(), stale_seconds=float(current_app.config["JOB_STALE_SECONDS"])
    )
    return JobOut.model_validate(shown)


def _version_row(version: str) -> ModelVersion:
    if not is_version_id(version):
        raise ApiError(404, "not_found", f"No model version {version!r}.")
    try:
        return get_version(db.session(), version)
    except VersionError as exc:
        raise ApiError(404, "not_found", str(exc)) from exc


def _version_out(row: ModelVersion, serving: dict[str, str | None], cls=VersionOut):
    extra = {"manifest": row.manifest} if cls is VersionDetail else {}
    return cls(
        version=row.version,
        status=row.status.value,
        targets=list(row.targets),
        serving=[t for t, v in serving.items() if v == row.version],
        parent_version=row.parent_version,
        created_at=row.created_at,
        created_by=row.created_by,
        metrics={
            t: {k: m.get(k) for k in ("n", "accuracy", "macro_f1", "ece")}
            for t, m in (row.metrics or {}).items()
        },
        gate=row.gate,
        **extra,
    )


def _activation_out(message: str) -> ActivationOut:
    s = db.session()
    return ActivationOut(active=active_versions(s), shadow=shadow_version(s), message=message)


@endpoint(
    bp,
    "/models/train",
    "POST",
    body=TrainRequest,
    response=JobOut,
    status=202,
    scopes=DATA_STAFF,
    errors=(409,),
    summary="Start a training job on agents' feedback (RQ when Redis is configured).",
)
def train_model(body: TrainRequest, principal: Principal) -> JobOut:
    try:
        job = jobs.start_training(
            current_app._get_current_object(),  # type: ignore[attr-defined]
            body.model_dump(),
            actor=principal.actor,
        )
    except jobs.JobError as exc:
        raise ApiError(exc.status, exc.code, str(exc)) from exc
    return _job_out(job)


@endpoint(
    bp,
    "/jobs/<job_id>",
    "GET",
    response=JobOut,
    scopes=DATA_STAFF,
    errors=(404,),
    summary="A background job's state, progress and outcome.",
)
def show_job(job_id: str, principal: Principal) -> JobOut:
    job = jobs.get_job(db.session(), job_id) if len(job_id) <= 36 else None
    if job is None:
        raise ApiError(404, "not_found", f"No job {job_id!r}.")
    return _job_out(job)


@endpoint(
    bp,
    "/models",
    "GET",
    response=VersionList,
    scopes=DATA_STAFF,
    summary="Registered model versions, newest first, with which one serves each target.",
)
def list_models(principal: Principal) -> VersionList:
    s = db.session()
    serving = active_versions(s)
    rows = s.scalars(select(ModelVersion).order_by(ModelVersion.id.desc()))
    return VersionList(
        items=[_version_out(r, serving) for r in rows],
        active=serving,
        shadow=shadow_version(s),
    )


@endpoint(
    bp,
    "/models/<version>",
    "GET",
    response=VersionDetail,
    scopes=DATA_STAFF,
    errors=(404,),
    summary="One model version with its manifest, metrics and gate result.",
)
def show_model(version: str, principal: Principal) -> VersionDetail:
    row = _version_row(version)
    return _version_out(row, active_versions(db.session()), VersionDetail)


@endpoint(
    bp,
    "/models/<version>/activate",
    "POST",
    body=ActivateRequest,
    response=ActivationOut,
    scopes=DATA_STAFF,
    errors=(404, 409),
    summary="Promote a version; refused when the gate finds it worse, unless forced.",
)
def activate_model(version: str, body: ActivateRequest, principal: Principal) -> ActivationOut:
    _version_row(version)
    s = db.session()
    try:
        rows = activate(
            s,
            version,
            actor=principal.actor,
            reason=body.reason,
            targets=body.targets,
            force=body.force,
        )
    except GateRefused as exc:
        s.commit()  # keep the gate result it was refused on
        raise ApiError(409, "gate_refused", str(exc)) from exc
    except VersionError as exc:
        raise ApiError(409, "cannot_activate", str(exc)) from exc
    s.commit()
    targets = ", ".join(r.target for r in rows)
    return _activation_out(f"version {version} active for {targets}; workers switch within seconds")


@endpoint(
    bp,
    "/models/rollback",
    "POST",
    body=ReasonRequest,
    response=ActivationOut,
    scopes=DATA_STAFF,
    errors=(409,),
    summary="Return each target to the version that served before the current one.",
)
def rollback_model(body: ReasonRequest, principal: Principal) -> ActivationOut:
    s = db.session()
    try:
        done = rollback(s, actor=principal.actor, reason=body.reason)
    except VersionError as exc:
        raise ApiError(409, "cannot_roll_back", str(exc)) from exc
    s.commit()
    return _activation_out("back to " + ", ".join(f"{v} for {t}" for t, v in sorted(done.items())))


@endpoint(
    bp,
    "/models/<version>/shadow",
    "POST",
    body=ReasonRequest,
    response=ActivationOut,
    scopes=DATA_STAFF,
    errors=(404, 409),
    summary="Let a candidate predict beside the serving models on new tickets (decides nothing).",
)
def shadow_model(version: str, body: ReasonRequest, principal: Principal) -> ActivationOut:
    return _change_shadow(
        version, set_shadow, principal, body.reason, "cannot_shadow", "shadows the serving models"
    )


@endpoint(
    bp,
    "/models/<version>/shadow",
    "DELETE",
    response=ActivationOut,
    scopes=DATA_STAFF,
    errors=(404, 409),
    summary="Stop a version's shadow predictions.",
)
def unshadow_model(version: str, principal: Principal) -> ActivationOut:
    return _change_shadow(
        version, clear_shadow, principal, None, "not_shadowing", "no longer shadows"
    )


def _change_shadow(
    version: str,
    change: Callable[..., None],
    principal: Principal,
    reason: str | None,
    code: str,
    done: str,
) -> ActivationOut:
    """Start or stop a version's shadow predictions; a refusal is a 409 with code."""
    _version_row(version)
    s = db.session()
    try:
        change(s, version, actor=principal.actor, reason=reason)
    except VersionError as exc:
        raise ApiError(409, code, str(exc)) from exc
    s.commit()
    return _activation_out(f"version {version} {done}")


@endpoint(
    bp,
    "/models/<version>/stats",
    "GET",
    response=VersionStats,
    scopes=DATA_STAFF,
    errors=(404,),
    summary="Share of a version's predictions agents corrected, per class and per day; "
    "shadow agreement.",
)
def model_stats(version: str, principal: Principal) -> VersionStats:
    row = _version_row(version)
    return VersionStats.model_validate(
        monitoring.version_stats(db.session(), row.version, list(row.targets))
    )
