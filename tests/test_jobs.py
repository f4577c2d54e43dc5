"""Training jobs on a real RQ queue, with Redis down, and killed midway."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import require_redis, table_counts
from tests.test_feedback_loop import _create_and_correct, _wait_for_job
from triage import db
from triage.tables import Job, JobState, ModelVersion


def _worker_env(monkeypatch, app) -> None:
    """Let an RQ job's own create_app() find the test's database, models and settings."""
    monkeypatch.setenv("TRIAGE_DATABASE_URL", app.config["DATABASE_URL"])
    monkeypatch.setenv("TRIAGE_MODELS_DIR", app.config["MODELS_DIR"])
    monkeypatch.setenv("TRIAGE_TRAINING_BASE_DATA", json.dumps(app.config["TRAINING_BASE_DATA"]))
    monkeypatch.setenv("TRIAGE_FEEDBACK_RECENT_HOLDOUT", "8")
    monkeypatch.setenv("TRIAGE_LOG_JSON", "false")
    monkeypatch.setenv("TRIAGE_INSTANCE_PATH", str(Path(app.config["MODELS_DIR"]).parent / "i"))


def test_a_training_job_runs_on_rq_when_redis_is_configured(
    loop_app, client, keys, active_model, monkeypatch
):
    from redis import Redis
    from rq import Queue, SimpleWorker

    url = require_redis()
    queue_name = f"triage-test-{uuid.uuid4().hex[:8]}"
    loop_app.config.update(REDIS_URL=url, JOB_QUEUE=queue_name, RATE_LIMIT_INTAKE="")
    _create_and_correct(client, keys, 20, "security")
    started = client.post("/api/v1/models/train", headers=keys.header(keys.data_staff), json={})
    assert started.status_code == 202
    job = started.get_json()
    assert job["backend"] == "rq" and job["state"] == "queued"

    _worker_env(monkeypatch, loop_app)
    connection = Redis.from_url(url)
    try:
        queue = Queue(queue_name, connection=connection)
        assert queue.count == 1
        SimpleWorker([queue], connection=connection).work(burst=True)
        assert queue.count == 0
    finally:
        connection.close()
    done = _wait_for_job(client, keys.header(keys.data_staff), job["id"], timeout=5)
    assert done["state"] == "succeeded", done["error"]
    version = done["result"]["version"]
    assert (Path(loop_app.config["MODELS_DIR"]) / version / "manifest.json").exists()
    listing = client.get("/api/v1/models", headers=keys.header(keys.data_staff)).get_json()
    assert [v["status"] for v in listing["items"] if v["version"] == version] == ["candidate"]


def test_with_redis_down_a_training_request_is_refused_and_nothing_is_stored(
    loop_app, client, keys, active_model
):
    loop_app.config.update(REDIS_URL="redis://127.0.0.1:1/0", RATE_LIMIT_INTAKE="")
    before = table_counts(loop_app)
    response = client.post("/api/v1/models/train", headers=keys.header(keys.data_staff), json={})
    assert response.status_code == 503
    body = response.get_json()
    assert body["error"] == "job_queue_unavailable"
    assert "Redis" in body["message"]
    assert table_counts(loop_app) == before


def test_a_second_training_job_waits_for_the_first(loop_app, client, keys, active_model):
    with loop_app.app_context():
        s = db.session()
        s.add(
            Job(
                id=str(uuid.uuid4()),
                kind="train",
                state=JobState.RUNNING,
                backend="thread",
                params={},
                created_by="test",
                heartbeat_at=db_now(),
            )
        )
        s.commit()
    response = client.post("/api/v1/models/train", headers=keys.header(keys.data_staff), json={})
    assert response.status_code == 409
    assert response.get_json()["error"] == "job_running"


def db_now():
    from triage.tables import utcnow

    return utcnow()


KILLED_JOB = """
import sys, time
from triage import create_app, jobs
app = create_app({"MODEL_WATCHER": False, "LOG_JSON": False})
job = jobs.start_training(app, {}, actor="test")
print(job.id, flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_a_job_killed_midway_changes_no_model_and_is_reported_lost(
    loop_app, client, keys, active_model, tmp_path
):
    """The process running a training job dies (kill -9) while fitting."""
    app = loop_app
    _create_and_correct(client, keys, 20, "security")
    models_dir = Path(app.config["MODELS_DIR"])
    before = sorted(p.name for p in models_dir.iterdir())
    env = {
        **os.environ,
        "TRIAGE_DATABASE_URL": app.config["DATABASE_URL"],
        "TRIAGE_MODELS_DIR": str(models_dir),
        # The full demo data as base: long enough a fit to be killed in the middle of it.
        "TRIAGE_FEEDBACK_RECENT_HOLDOUT": "8",
        "TRIAGE_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_JOB], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        job_id = proc.stdout.readline().strip()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with app.app_context():
                job = db.session().get(Job, job_id)
                state, progress = (job.state, job.progress) if job else (None, 0.0)
            if state == JobState.RUNNING and progress > 0.05:
                break
            assert state in (JobState.QUEUED, JobState.RUNNING, None)
            time.sleep(0.2)
        else:
            raise AssertionError("the job never got going")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()

    assert sorted(p.name for p in models_dir.iterdir()) == before
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(ModelVersion)) == 1
    assert client.get("/api/v1/ready").get_json()["models"]["category"] == active_model
    # Still "running" in the table, but nobody reports: clients are told it was lost.
    app.config["JOB_STALE_SECONDS"] = 0.5
    time.sleep(1.0)
    shown = client.get(f"/api/v1/jobs/{job_id}", headers=keys.header(keys.data_staff)).get_json()
    assert shown["state"] == "failed"
    assert shown["error"].startswith("worker lost")
