"""The feedback loop through the API: corrections, retraining jobs, gate, promotion, rollback."""

from __future__ import annotations

import csv
import itertools
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import DEMO_CSV, table_counts
from triage import db
from triage.tables import Job, ModelVersion, ShadowPrediction

BADGE_TEXTS = [
    (
        "Leitor de crachá da portaria {i}",
        "O leitor de crachá da catraca {i} não reconhece o cartão.",
    ),
    ("Catraca bloqueada no andar {i}", "A catraca do andar {i} recusa todos os crachás de acesso."),
    ("Badge reader at gate {i}", "The badge reader at turnstile {i} rejects every access card."),
    (
        "Crachá recusado na catraca {i}",
        "Meu crachá de acesso é recusado na catraca {i} da entrada.",
    ),
]


def _wait_for_job(client, header, job_id: str, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=header).get_json()
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def _preview_category(client, keys, text: tuple[str, str]) -> dict:
    response = client.post(
        "/api/v1/triage",
        headers=keys.header(keys.intake),
        json={"subject": text[0], "description": text[1]},
    )
    assert response.status_code == 200
    return response.get_json()


def _create_and_correct(client, keys, n: int, category: str) -> list[int]:
    ids = []
    for i in range(n):
        subject, description = BADGE_TEXTS[i % len(BADGE_TEXTS)]
        created = client.post(
            "/api/v1/tickets",
            headers=keys.header(keys.intake),
            json={"subject": subject.format(i=i), "description": description.format(i=i)},
        )
        assert created.status_code == 201
        ticket = created.get_json()
        ids.append(ticket["id"])
        patched = client.patch(
            f"/api/v1/tickets/{ticket['id']}",
            headers=keys.header(keys.agent),
            json={"category": category, "reason": "acesso físico é segurança"},
        )
        assert patched.status_code == 200, patched.get_json()
    return ids


def test_corrections_retrain_gate_activate_and_roll_back(loop_app, client, keys, active_model):
    app = loop_app
    probe = ("Catraca não aceita crachá", "O leitor da catraca da recepção recusa meu crachá.")
    before = _preview_category(client, keys, probe)
    assert before["category"]["value"] != "security"
    assert before["model_versions"]["category"] == active_model

    _create_and_correct(client, keys, 48, "security")

    started = client.post("/api/v1/models/train", headers=keys.header(keys.data_staff), json={})
    assert started.status_code == 202, started.get_json()
    job = started.get_json()
    assert job["backend"] == "thread" and job["state"] in ("queued", "running", "succeeded")
    done = _wait_for_job(client, keys.header(keys.data_staff), job["id"])
    assert done["state"] == "succeeded", done["error"]
    assert done["progress"] == 1.0
    candidate = done["result"]["version"]

    detail = client.get(f"/api/v1/models/{candidate}", headers=keys.header(keys.data_staff))
    assert detail.status_code == 200
    body = detail.get_json()
    assert body["status"] == "candidate"
    assert body["parent_version"] == active_model
    feedback = body["manifest"]["training"]["feedback"]
    # Frozen and recent rows were kept out of training and judged the candidate instead.
    assert feedback["held_out_frozen"] + feedback["held_out_recent"] > 0
    assert feedback["rows"] + feedback["held_out_frozen"] + feedback["held_out_recent"] == 48
    gate = body["gate"]
    assert gate["rows"]["frozen"] + gate["rows"]["recent"] >= 5
    category_gate = gate["targets"]["category"]
    assert category_gate["active_version"] == active_model
    assert category_gate["candidate"]["macro_f1"] > category_gate["active"]["macro_f1"]
    assert category_gate["verdict"] == "better" and gate["passed"]

    activated = client.post(
        f"/api/v1/models/{candidate}/activate",
        headers=keys.header(keys.data_staff),
        json={"reason": "learns badge readers are security"},
    )
    assert activated.status_code == 200, activated.get_json()
    assert activated.get_json()["active"] == {"priority": candidate, "category": candidate}

    after = _preview_category(client, keys, probe)
    assert after["model_versions"]["category"] == candidate
    assert after["category"]["value"] == "security"

    rolled = client.post(
        "/api/v1/models/rollback", headers=keys.header(keys.data_staff), json={"reason": "test"}
    )
    assert rolled.status_code == 200
    assert rolled.get_json()["active"]["category"] == active_model
    again = _preview_category(client, keys, probe)
    assert again["model_versions"]["category"] == active_model
    assert again["category"]["value"] == before["category"]["value"]

    # Who promoted what and why is in the activation log.
    with app.app_context():
        from triage.tables import ModelActivation

        log = db.session().scalars(select(ModelActivation).order_by(ModelActivation.id)).all()
        promoted = [r for r in log if r.version == candidate and r.action == "activate"]
        assert {r.actor for r in promoted} == {f"apikey:{_key_id(app, 'data')}"}
        assert promoted[0].reason == "learns badge readers are security"


def _label_demo_tickets(client, keys, n: int) -> None:
    """Store demo tickets the tiny model never saw, and have an agent set their true category."""
    with DEMO_CSV.open(encoding="utf-8", newline="") as fh:
        rows = list(itertools.islice(csv.DictReader(fh), 2000, 2000 + n))
    for row in rows:
        created = client.post(
            "/api/v1/tickets",
            headers=keys.header(keys.intake),
            json={"subject": row["subject"], "description": row["description"]},
        )
        assert created.status_code == 201
        patched = client.patch(
            f"/api/v1/tickets/{created.get_json()['id']}",
            headers=keys.header(keys.agent),
            json={"category": row["category"], "reason": "revisado"},
        )
        assert patched.status_code == 200


def _key_id(app, name: str) -> int:
    from triage.tables import ApiKey

    with app.app_context():
        return db.session().scalar(select(ApiKey.id).where(ApiKey.name == name))


def test_model_stats_show_the_share_of_predictions_agents_corrected(
    loop_app, client, keys, active_model
):
    _create_and_correct(client, keys, 6, "security")
    for i in range(4):  # predictions nobody corrected
        created = client.post(
            "/api/v1/tickets",
            headers=keys.header(keys.intake),
            json={
                "subject": f"Fatura duplicada {i}",
                "description": "Cobrança em dobro no cartão.",
            },
        )
        assert created.status_code == 201
    stats = client.get(f"/api/v1/models/{active_model}/stats", headers=keys.header(keys.data_staff))
    assert stats.status_code == 200
    category = stats.get_json()["targets"]["category"]
    assert category["predictions"] == 10
    corrected = sum(1 for _ in range(6))
    wrongly_predicted = {
        label: figures
        for label, figures in category["per_class"].items()
        if figures["corrected"] and label != "security"
    }
    assert category["corrected"] <= corrected
    assert category["correction_rate"] == pytest.approx(category["corrected"] / 10, abs=1e-4)
    assert all(
        f["corrected_to"] == {"security": f["corrected"]} for f in wrongly_predicted.values()
    )
    assert len(category["by_day"]) == 1 and category["by_day"][0]["predictions"] == 10
    assert stats.get_json()["shadow"] == {}


def test_a_job_whose_data_lost_a_class_fails_and_changes_nothing(
    loop_app, client, keys, active_model
):
    app = loop_app
    app.config.update(FEEDBACK_RECENT_HOLDOUT=0, FEEDBACK_FROZEN_EVAL_SHARE=0.0)
    # Feedback only, and every label the same: the category model would have one class.
    _create_and_correct(client, keys, 12, "security")
    models_dir = Path(app.config["MODELS_DIR"])
    folders_before = sorted(p.name for p in models_dir.iterdir())

    started = client.post(
        "/api/v1/models/train", headers=keys.header(keys.data_staff), json={"base_data": False}
    )
    assert started.status_code == 202
    done = _wait_for_job(client, keys.header(keys.data_staff), started.get_json()["id"])
    assert done["state"] == "failed"
    assert "only one class" in done["error"]
    assert done["result"] is None
    assert sorted(p.name for p in models_dir.iterdir()) == folders_before
    with app.app_context():
        s = db.session()
        assert s.scalar(select(func.count()).select_from(ModelVersion)) == 1
    ready = client.get("/api/v1/ready").get_json()
    assert ready["models"] == {"priority": active_model, "category": active_model}


def test_the_gate_refuses_a_worse_candidate_unless_forced(
    loop_app, client, keys, active_model, tmp_path
):
    app = loop_app
    app.config.update(FEEDBACK_RECENT_HOLDOUT=40, MODEL_GATE_MIN_ROWS=10)
    _label_demo_tickets(client, keys, 60)
    # A candidate trained on labels shuffled at random knows nothing.
    from triage import training
    from triage.tables import utcnow
    from triage.versions import train_and_register

    with DEMO_CSV.open(encoding="utf-8", newline="") as fh:
        rows = list(itertools.islice(csv.DictReader(fh), 600))
    categories = [r["category"] for r in rows]
    categories = categories[7:] + categories[:7]
    for row, label in zip(rows, categories, strict=True):
        row["category"] = label
    data = training.TrainingData.from_rows(
        rows,
        text_columns=("subject", "description"),
        category_column="category",
        source="shuffled",
    )
    with app.app_context():
        s = db.session()
        bad = train_and_register(s, data, actor="test", parent=active_model).version
        s.commit()
        assert utcnow()
    refused = client.post(
        f"/api/v1/models/{bad}/activate", headers=keys.header(keys.data_staff), json={}
    )
    assert refused.status_code == 409
    error = refused.get_json()
    assert error["error"] == "gate_refused" and "macro-F1" in error["message"]
    ready = client.get("/api/v1/ready").get_json()
    assert ready["models"]["category"] == active_model

    forced = client.post(
        f"/api/v1/models/{bad}/activate",
        headers=keys.header(keys.data_staff),
        json={"force": True, "reason": "testing the override"},
    )
    assert forced.status_code == 200
    assert forced.get_json()["active"]["category"] == bad
    with app.app_context():
        from triage.tables import ModelActivation

        last = (
            db.session()
            .scalars(select(ModelActivation).order_by(ModelActivation.id.desc()).limit(1))
            .one()
        )
        assert "forced past the gate" in last.reason and "testing the override" in last.reason


def test_shadow_version_predicts_beside_the_active_one_and_decides_nothing(
    loop_app, client, keys, active_model, second_version
):
    header = keys.header(keys.data_staff)
    assert (
        client.post(f"/api/v1/models/{second_version}/shadow", headers=header, json={}).status_code
        == 200
    )
    created = []
    for i in range(5):
        response = client.post(
            "/api/v1/tickets",
            headers=keys.header(keys.intake),
            json={"subject": f"Erro no login {i}", "description": "Não consigo entrar no portal."},
        )
        assert response.status_code == 201
        created.append(response.get_json())
    assert all(t["decision"]["model_versions"]["category"] == active_model for t in created)
    client.patch(
        f"/api/v1/tickets/{created[0]['id']}",
        headers=keys.header(keys.agent),
        json={"category": "account_access", "reason": "confirmado"},
    )
    stats = client.get(f"/api/v1/models/{second_version}/stats", headers=header).get_json()
    shadow = stats["shadow"]["category"]
    assert shadow["predictions"] == 5
    assert 0.0 <= shadow["agreement"] <= 1.0
    assert shadow["human_labelled"] == 1
    listing = client.get("/api/v1/models", headers=header).get_json()
    assert listing["shadow"] == second_version

    assert (
        client.delete(f"/api/v1/models/{second_version}/shadow", headers=header).status_code == 200
    )
    client.post(
        "/api/v1/tickets",
        headers=keys.header(keys.intake),
        json={"subject": "Mais um", "description": "Outro ticket sem sombra."},
    )
    with loop_app.app_context():
        count = db.session().scalar(select(func.count()).select_from(ShadowPrediction))
    assert count == 10  # 5 tickets x 2 targets, none after shadow mode ended


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/models/train", {}),
        ("get", "/api/v1/jobs/00000000-0000-0000-0000-000000000000", None),
        ("get", "/api/v1/models", None),
        ("post", "/api/v1/models/rollback", {}),
    ],
)
def test_model_routes_need_a_data_staff_key(client, keys, method, path, body, app):
    before = table_counts(app)
    kwargs = {"json": body} if body is not None else {}
    for key, status in ((None, 401), (keys.agent, 403), (keys.intake, 403)):
        headers = keys.header(key) if key else {}
        response = getattr(client, method)(path, headers=headers, **kwargs)
        assert response.status_code == status
        assert set(response.get_json()) == {"error", "message", "fields"}
    assert table_counts(app) == before


def test_unknown_versions_and_jobs_are_404(client, keys, active_model):
    header = keys.header(keys.data_staff)
    assert client.get("/api/v1/models/../etc", headers=header).status_code == 404
    assert client.get("/api/v1/models/20990101T000000Z-abcd", headers=header).status_code == 404
    assert (
        client.post(
            "/api/v1/models/20990101T000000Z-abcd/activate", headers=header, json={}
        ).status_code
        == 404
    )
    assert client.get("/api/v1/jobs/nope", headers=header).status_code == 404
    bad = client.post("/api/v1/models/train", headers=header, json={"min_class_rows": 0})
    assert bad.status_code == 422
    with client.application.app_context():
        assert db.session().scalar(select(func.count()).select_from(Job)) == 0
