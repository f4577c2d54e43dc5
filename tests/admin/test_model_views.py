"""Model versions in the admin: who may see and act, CSRF and confirmation, the gate's refusal."""

from __future__ import annotations

import csv
import itertools
import random
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.admin.conftest import csrf_token, logged_in, make_ticket
from tests.conftest import DEMO_CSV
from triage import db, model_store, training
from triage.schemas import TicketPatch
from triage.serving import active_versions
from triage.tables import ModelStatus, ModelVersion, Role, utcnow
from triage.tickets import Actor, get_ticket, update_ticket


def register(app, version: str) -> None:
    """Register a version saved in the app's models folder as a candidate."""
    from triage.versions import register_version

    with app.app_context():
        s = db.session()
        manifest = model_store.load_version(Path(app.config["MODELS_DIR"]), version).manifest
        register_version(s, manifest, actor="test")
        s.commit()


def serving(app) -> dict[str, str | None]:
    with app.app_context():
        return active_versions(db.session())


def status_of(app, version: str) -> ModelStatus:
    with app.app_context():
        return db.session().scalar(
            select(ModelVersion.status).where(ModelVersion.version == version)
        )


def test_data_staff_sees_versions_with_metrics_and_confusion_picture(client, app, active_model):
    logged_in(client, Role.DATA_STAFF)
    page = client.get("/admin/models/").get_data(as_text=True)
    assert active_model in page and "active" in page
    detail = client.get(f"/admin/models/{active_model}")
    html = detail.get_data(as_text=True)
    assert detail.status_code == 200
    with app.app_context():
        manifest = model_store.read_manifest(app.config["MODELS_DIR"], active_model)
    assert manifest["artifact"]["sha256"] in html
    assert manifest["training"]["fingerprint"] in html
    assert f"{manifest['metrics']['category']['macro_f1']:.3f}" in html
    picture = client.get(f"/admin/models/{active_model}/confusion/category.svg")
    assert picture.status_code == 200 and picture.mimetype == "image/svg+xml"
    svg = picture.get_data(as_text=True)
    for label in manifest["metrics"]["category"]["confusion"]["labels"]:
        assert label in svg


@pytest.mark.parametrize(
    "url",
    [
        "/admin/models/",
        "/admin/jobs/",
        "/admin/models/{v}",
        "/admin/models/{v}/activate",
        "/admin/models/{v}/confusion/priority.svg",
        "/admin/models/rollback",
    ],
)
def test_agent_is_refused_model_pages(client, active_model, url):
    logged_in(client, Role.AGENT)
    assert client.get(url.format(v=active_model)).status_code == 403


def test_agent_cannot_roll_back_even_with_a_valid_token(client, app, active_model):
    logged_in(client, Role.AGENT)
    token = csrf_token(client, "/admin/tickets/")
    response = client.post(
        "/admin/models/rollback", data={"csrf_token": token, "confirm": "y", "reason": "x"}
    )
    assert response.status_code == 403
    assert serving(app)["category"] == active_model


def test_anonymous_visitor_is_sent_to_login(client, active_model):
    response = client.get(f"/admin/models/{active_model}")
    assert response.status_code == 302 and "/admin/login" in response.location


def test_unknown_version_is_404(client, active_model):
    logged_in(client, Role.DATA_STAFF)
    assert client.get("/admin/models/20990101T000000Z-abcd").status_code == 404
    assert client.get("/admin/models/not-a-version").status_code == 404
    assert client.get(f"/admin/models/{active_model}/confusion/nothing.svg").status_code == 404


def test_activation_needs_the_csrf_token_and_the_confirmation(client, app, tiny_version):
    register(app, tiny_version)
    logged_in(client, Role.DATA_STAFF)
    url = f"/admin/models/{tiny_version}/activate"
    no_token = client.post(url, data={"confirm": "y"})
    assert no_token.status_code == 400
    assert serving(app) == {}
    token = csrf_token(client, url)
    unconfirmed = client.post(url, data={"csrf_token": token, "reason": "try"})
    assert unconfirmed.status_code == 400
    assert "Tick the confirmation box" in unconfirmed.get_data(as_text=True)
    assert serving(app) == {}
    done = client.post(url, data={"csrf_token": token, "confirm": "y", "reason": "first model"})
    assert done.status_code == 302
    assert serving(app) == {"priority": tiny_version, "category": tiny_version}
    assert status_of(app, tiny_version) == ModelStatus.ACTIVE


def test_shadow_and_back_each_confirmed(client, app, active_model):
    worse = train_version(app, rows=300, shuffle=False)
    logged_in(client, Role.ADMIN)
    url = f"/admin/models/{worse}/shadow"
    token = csrf_token(client, url)
    assert client.post(url, data={"csrf_token": token}).status_code == 400
    assert status_of(app, worse) == ModelStatus.CANDIDATE
    assert client.post(url, data={"csrf_token": token, "confirm": "y"}).status_code == 302
    assert status_of(app, worse) == ModelStatus.SHADOW
    assert "shadow" in client.get(f"/admin/models/{worse}").get_data(as_text=True)
    url = f"/admin/models/{worse}/unshadow"
    assert client.post(url, data={"csrf_token": token, "confirm": "y"}).status_code == 302
    assert status_of(app, worse) == ModelStatus.CANDIDATE
    assert serving(app)["category"] == active_model


def train_version(app, *, rows: int, shuffle: bool) -> str:
    """Train a small version into the app's models folder (labels shuffled: a bad model)."""
    with DEMO_CSV.open(encoding="utf-8", newline="") as fh:
        data_rows = list(itertools.islice(csv.DictReader(fh), 1000, 1000 + rows))
    if shuffle:
        rng = random.Random(7)
        for column in ("priority", "category"):
            values = [r[column] for r in data_rows]
            rng.shuffle(values)
            for r, v in zip(data_rows, values, strict=True):
                r[column] = v
    data = training.TrainingData.from_rows(
        data_rows,
        text_columns=("subject", "description"),
        priority_column="priority",
        category_column="category",
        source="test",
    )
    result = training.train(data)
    manifest = model_store.save_version(
        app.config["MODELS_DIR"],
        result.pipelines,
        training=result.training,
        metrics=result.metrics,
        parent=None,
        now=utcnow(),
    )
    register(app, manifest["version"])
    return manifest["version"]


def label_tickets(app, n: int) -> None:
    """Store n demo tickets and have an agent confirm their true priority and category."""
    with DEMO_CSV.open(encoding="utf-8", newline="") as fh:
        rows = list(itertools.islice(csv.DictReader(fh), 2000, 2000 + n))
    ids = [make_ticket(app, subject=r["subject"], description=r["description"]) for r in rows]
    with app.app_context():
        s = db.session()
        catalog = app.extensions["triage"].catalog.get(s, utcnow())
        for ticket_id, r in zip(ids, rows, strict=True):
            ticket = get_ticket(s, ticket_id)
            patch = TicketPatch(priority=r["priority"], category=r["category"], reason="label")
            update_ticket(
                s, ticket, patch, actor=Actor("test", None), catalog=catalog, now=utcnow()
            )
        s.commit()


def test_gate_refuses_a_worse_version_until_forced_with_a_reason(client, app, active_model):
    app.config["MODEL_GATE_MIN_ROWS"] = 5  # a handful of labelled tickets decides in a test
    label_tickets(app, 40)
    worse = train_version(app, rows=300, shuffle=True)
    logged_in(client, Role.DATA_STAFF)
    url = f"/admin/models/{worse}/activate"
    token = csrf_token(client, url)
    refused = client.post(url, data={"csrf_token": token, "confirm": "y", "reason": "try"})
    assert refused.status_code == 409
    assert "The gate refuses this version" in refused.get_data(as_text=True)
    assert serving(app)["category"] == active_model
    no_reason = client.post(url, data={"csrf_token": token, "confirm": "y", "force": "y"})
    assert no_reason.status_code == 422
    assert serving(app)["category"] == active_model
    forced = client.post(
        url, data={"csrf_token": token, "confirm": "y", "force": "y", "reason": "drill"}
    )
    assert forced.status_code == 302
    assert serving(app)["category"] == worse
    detail = client.get(f"/admin/models/{worse}").get_data(as_text=True)
    assert "worse" in detail  # the gate's verdict stays on the version's page


def test_rollback_is_confirmed_and_returns_the_previous_version(client, app, active_model):
    other = train_version(app, rows=300, shuffle=False)
    logged_in(client, Role.ADMIN)
    token = csrf_token(client, f"/admin/models/{other}/activate")
    client.post(
        f"/admin/models/{other}/activate",
        data={"csrf_token": token, "confirm": "y", "force": "y", "reason": "test"},
    )
    assert serving(app)["category"] == other
    assert client.post("/admin/models/rollback", data={"csrf_token": token}).status_code == 400
    assert serving(app)["category"] == other
    response = client.post("/admin/models/rollback", data={"csrf_token": token, "confirm": "y"})
    assert response.status_code == 302
    assert serving(app)["category"] == active_model


def test_train_starts_a_job_and_shows_its_page(client, app, active_model):
    label_tickets(app, 30)
    logged_in(client, Role.DATA_STAFF)
    token = csrf_token(client, "/admin/models/train")
    unconfirmed = client.post("/admin/models/train", data={"csrf_token": token})
    assert unconfirmed.status_code == 400
    jobs_page = client.get("/admin/jobs/").get_data(as_text=True)
    assert not re.search(r"/admin/jobs/[0-9a-f-]{36}", jobs_page)
    started = client.post("/admin/models/train", data={"csrf_token": token, "confirm": "y"})
    assert started.status_code == 302
    job_url = started.location
    assert re.search(r"/admin/jobs/[0-9a-f-]{36}$", job_url)
    page = client.get(job_url).get_data(as_text=True)
    assert "train" in page and "job-state" in page
    _wait_for_job(app, job_url.rsplit("/", 1)[1])


def _wait_for_job(app, job_id: str) -> None:
    """Wait for the background training thread so the test leaves nothing running."""
    import time

    from triage import jobs

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with app.app_context():
            job = jobs.get_job(db.session(), job_id)
            if job.state.value in ("succeeded", "failed"):
                return
        time.sleep(0.5)
    pytest.fail("training job did not finish")
