"""Background jobs (model training): on RQ with Redis when configured, in a thread otherwise.

A job is a row in the jobs table, so every worker and the CLI see its state and progress. The
code that runs it only ever writes a new model version and registers it as a candidate: a job that
fails, or is killed, leaves the active model and the existing versions as they were. A running
job reports a heartbeat; one whose heartbeat stops is shown as failed ("worker lost").
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from triage import db
from triage.tables import Job, JobState, utcnow
from triage.training import TrainingDataError
from triage.versions import VersionError, discard_version, train_from_feedback

log = logging.getLogger(__name__)

QUEUE_NAME = "triage"
HEARTBEAT_SECONDS = 5.0
# Longest a training job may run on RQ before the worker stops it.
RQ_JOB_TIMEOUT = 6 * 3600


class JobError(Exception):
    """A job cannot be started; status is the HTTP status that says why."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class JobView:
    """What a client sees of a job: a running job whose heartbeat stopped is shown as failed."""

    id: str
    kind: str
    state: str
    backend: str
    progress: float
    message: str | None
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def view(job: Job, *, now: datetime, stale_seconds: float) -> JobView:
    """Return the job as clients see it, judging a silent running or queued job as lost."""
    state, error = job.state.value, job.error
    last = job.heartbeat_at or job.started_at
    if job.state == JobState.RUNNING and last and now - last > timedelta(seconds=stale_seconds):
        state = JobState.FAILED.value
        error = f"worker lost: no progress report since {last.isoformat()}"
    return JobView(
        id=job.id,
        kind=job.kind,
        state=state,
        backend=job.backend,
        progress=job.progress,
        message=job.message,
        params=dict(job.params or {}),
        result=job.result,
        error=error,
        created_by=job.created_by,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def get_job(s: Session, job_id: str) -> Job | None:
    """Return a job by id, or None."""
    return s.get(Job, job_id)


def running_training(s: Session, *, now: datetime, stale_seconds: float) -> Job | None:
    """Return a training job that is queued or running (and still alive), if any."""
    jobs = s.scalars(
        select(Job).where(Job.kind == "train", Job.state.in_([JobState.QUEUED, JobState.RUNNING]))
    )
    for job in jobs:
        if view(job, now=now, stale_seconds=stale_seconds).state != JobState.FAILED.value:
            return job
    return None


def start_training(app: Flask, params: Mapping[str, Any], *, actor: str) -> Job:
    """Record a training job and hand it to RQ (when REDIS_URL is set) or to a thread."""
    redis_url = app.config.get("REDIS_URL")
    stale = float(app.config["JOB_STALE_SECONDS"])
    with app.app_context(), db.fresh_session() as s:
        busy = running_training(s, now=utcnow(), stale_seconds=stale)
        if busy is not None:
            raise JobError(
                409, "job_running", f"Training job {busy.id} is still {busy.state.value}."
            )
        job = Job(
            id=str(uuid.uuid4()),
            kind="train",
            state=JobState.QUEUED,
            backend="rq" if redis_url else "thread",
            params=dict(params),
            progress=0.0,
            message="queued",
            created_by=actor,
            created_at=utcnow(),
        )
        s.add(job)
        s.flush()
        if redis_url:
            # Enqueued before the commit: if Redis refuses, the job row is never stored.
            try:
                _enqueue(redis_url, app.config.get("JOB_QUEUE", QUEUE_NAME), job.id)
            except Exception as exc:  # noqa: BLE001 - any Redis failure means "not queued"
                s.rollback()
                log.error("training job not queued: Redis at the configured URL failed: %s", exc)
                raise JobError(
                    503,
                    "job_queue_unavailable",
                    "The job queue (Redis) is not reachable; no training job was started.",
                ) from exc
        s.commit()
        s.expunge(job)
    if not redis_url:
        thread = threading.Thread(
            target=_run_in_app, args=(app, job.id), name=f"triage-job-{job.id}", daemon=True
        )
        thread.start()
    return job


def _enqueue(redis_url: str, queue_name: str, job_id: str) -> None:
    from redis import Redis
    from rq import Queue

    connection = Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=5)
    try:
        Queue(queue_name, connection=connection).enqueue(
            run_job, job_id, job_id=job_id, job_timeout=RQ_JOB_TIMEOUT, result_ttl=86400
        )
    finally:
        connection.close()


def run_job(job_id: str) -> None:
    """RQ entry point: build the app from the worker's configuration and run the job."""
    from triage import create_app

    app = create_app({"MODEL_WATCHER": False})
    try:
        _run_in_app(app, job_id, wait_for_row=10.0)
    finally:
        app.extensions["triage"].engine.dispose()


def _run_in_app(app: Flask, job_id: str, wait_for_row: float = 0.0) -> None:
    with app.app_context():
        execute(job_id, wait_for_row=wait_for_row)


class _Reporter:
    """Writes progress and a heartbeat to the job row from its own session."""

    def __init__(self, job_id: str):
        self.job_id = job_id
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.sessions = current_app.extensions["triage"].sessions

    def update(self, **values: Any) -> None:
        with self.lock, self.sessions() as s:
            job = s.get(Job, self.job_id)
            if job is None:
                return
            for key, value in values.items():
                setattr(job, key, value)
            job.heartbeat_at = utcnow()
            s.commit()

    def progress(self, step: str, fraction: float) -> None:
        try:
            self.update(progress=round(min(max(fraction, 0.0), 1.0), 4), message=step)
        except Exception:  # noqa: BLE001 - a lost progress report must not fail the training
            log.warning("job %s: progress report failed", self.job_id, exc_info=True)

    def beat(self) -> None:
        while not self.stop.wait(HEARTBEAT_SECONDS):
            try:
                self.update()
            except Exception:  # noqa: BLE001 - the next beat retries
                log.warning("job %s: heartbeat failed", self.job_id, exc_info=True)


def execute(job_id: str, *, wait_for_row: float = 0.0) -> None:
    """Run a job in the current app context, recording its outcome on its row."""
    sessions = current_app.extensions["triage"].sessions
    deadline = time.monotonic() + wait_for_row
    while True:
        with sessions() as s:
            job = s.get(Job, job_id)
            params = dict(job.params or {}) if job else {}
            state = job.state if job else None
        if job is not None or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    if job is None:
        log.error("job %s not found", job_id)
        return
    if state != JobState.QUEUED:
        log.warning("job %s is %s, not queued; not run again", job_id, state)
        return
    reporter = _Reporter(job_id)
    reporter.update(state=JobState.RUNNING, started_at=utcnow(), message="started")
    beat = threading.Thread(target=reporter.beat, name=f"triage-job-beat-{job_id}", daemon=True)
    beat.start()
    try:
        result = _train(params, reporter)
    except Exception as exc:  # noqa: BLE001 - every failure is reported on the job
        known = isinstance(exc, TrainingDataError | VersionError)
        error = str(exc) if known else f"{type(exc).__name__}: {exc}"
        if not known:
            log.exception("job %s failed", job_id)
        reporter.stop.set()
        reporter.update(state=JobState.FAILED, error=error, message="failed", finished_at=utcnow())
        return
    reporter.stop.set()
    reporter.update(
        state=JobState.SUCCEEDED,
        progress=1.0,
        message="done",
        result=result,
        finished_at=utcnow(),
    )


def _train(params: Mapping[str, Any], reporter: _Reporter) -> dict[str, Any]:
    """Train from feedback (plus base data), register the candidate and gate it."""
    config = current_app.config
    base = config.get("TRAINING_BASE_DATA") if params.get("base_data", True) else None
    with db.fresh_session() as s:
        row = train_from_feedback(
            s,
            actor=f"job:{reporter.job_id}",
            base=base,
            min_class_rows=int(params.get("min_class_rows", 5)),
            progress=reporter.progress,
        )
        try:
            s.commit()
        except BaseException:
            discard_version(row.version)
            raise
        return {
            "version": row.version,
            "targets": list(row.targets),
            "metrics": {
                t: {k: m.get(k) for k in ("accuracy", "macro_f1", "ece")}
                for t, m in row.metrics.items()
            },
            "gate": {
                "passed": (row.gate or {}).get("passed"),
                "verdicts": {
                    t: e.get("verdict") for t, e in ((row.gate or {}).get("targets") or {}).items()
                },
            },
            "training_rows": row.manifest["training"]["rows"],
        }
