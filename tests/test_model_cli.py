"""Data staff train, evaluate, score, activate and roll back models from the shell."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from tests.conftest import DEMO_CSV


@pytest.fixture
def export_csv(tmp_path) -> Path:
    """A team's own export: Portuguese column names, 600 demo tickets."""
    path = tmp_path / "export.csv"
    with (
        DEMO_CSV.open(encoding="utf-8", newline="") as src,
        path.open("w", encoding="utf-8", newline="") as dst,
    ):
        reader = csv.DictReader(src)
        writer = csv.writer(dst)
        writer.writerow(["assunto", "texto", "prioridade", "categoria", "canal"])
        for i, row in enumerate(reader):
            if i == 600:
                break
            writer.writerow(
                [
                    row["subject"],
                    row["description"],
                    row["priority"],
                    row["category"],
                    row["channel"],
                ]
            )
    return path


def _train(runner, export_csv, *extra) -> str:
    result = runner.invoke(
        args=[
            "train",
            "--data",
            str(export_csv),
            "--text-columns",
            "assunto,texto",
            "--priority-column",
            "prioridade",
            "--category-column",
            "categoria",
            "--context-columns",
            "canal",
            *extra,
        ]
    )
    assert result.exit_code == 0, result.output
    return re.search(r"version (\S+) registered", result.output).group(1)


def test_train_evaluate_predict_activate_and_roll_back(
    app, runner, client, keys, export_csv, tmp_path, active_model
):
    version = _train(runner, export_csv)
    manifest = json.loads((Path(app.config["MODELS_DIR"]) / version / "manifest.json").read_text())
    assert manifest["training"]["rows"] == 600
    assert set(manifest["targets"]) == {"priority", "category"}
    assert "sha256" in json.dumps(manifest)

    plot = tmp_path / "cm.png"
    result = runner.invoke(
        args=[
            "evaluate",
            "--model",
            version,
            "--data",
            str(export_csv),
            "--text-columns",
            "assunto,texto",
            "--category-column",
            "categoria",
            "--plot",
            str(plot),
        ]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    category = report["targets"]["category"]
    assert {"accuracy", "macro_f1", "per_class", "ece", "confusion"} <= set(category)
    assert category["accuracy"] > 0.8  # evaluated on its own training rows
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    out = tmp_path / "preds.csv"
    result = runner.invoke(
        args=[
            "predict",
            "--model",
            version,
            "--data",
            str(export_csv),
            "--text-columns",
            "assunto,texto",
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 600
    assert {"predicted_category", "category_confidence", "predicted_priority"} <= set(rows[0])
    agree = sum(r["predicted_category"] == r["categoria"] for r in rows) / len(rows)
    assert agree > 0.8

    assert runner.invoke(args=["activate", version, "--reason", "better"]).exit_code == 0
    ready = client.get("/api/v1/ready").get_json()
    assert ready["models"] == {"priority": version, "category": version}
    listing = runner.invoke(args=["models"]).output
    assert re.search(rf"{version}\s+active", listing)

    result = runner.invoke(args=["rollback", "--reason", "worse on monday"])
    assert result.exit_code == 0, result.output
    assert client.get("/api/v1/ready").get_json()["models"]["category"] == active_model
    result = runner.invoke(args=["rollback"])
    assert result.exit_code != 0
    assert "no earlier version" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--text-columns", "assunto,texto", "--category-column", "nope"], "nope"),
        (["--text-columns", "sujeito", "--category-column", "categoria"], "sujeito"),
        (["--text-columns", "assunto,texto"], "target"),
    ],
)
def test_train_refuses_bad_columns_and_writes_nothing(app, runner, export_csv, args, message):
    models = Path(app.config["MODELS_DIR"])
    before = sorted(p.name for p in models.iterdir())
    result = runner.invoke(args=["train", "--data", str(export_csv), *args])
    assert result.exit_code != 0
    assert message in result.output
    assert sorted(p.name for p in models.iterdir()) == before


def test_activate_refuses_a_tampered_artifact(app, runner, export_csv):
    version = _train(runner, export_csv)
    model_file = Path(app.config["MODELS_DIR"]) / version / "model.joblib"
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))
    result = runner.invoke(args=["activate", version])
    assert result.exit_code != 0
    assert "hash" in result.output


@pytest.mark.parametrize("worker", ["running", "freshly started"])
def test_service_keeps_a_good_model_when_the_new_one_is_corrupt(
    app, runner, client, keys, export_csv, active_model, worker, request
):
    from triage import create_app, db
    from triage.tables import ModelActivation

    assert client.get("/api/v1/ready").get_json()["models"]["category"] == active_model
    version = _train(runner, export_csv)
    (Path(app.config["MODELS_DIR"]) / version / "model.joblib").write_bytes(b"not a model")
    with app.app_context():  # as if activated by another host whose file was fine
        s = db.session()
        for target in ("priority", "category"):
            s.add(
                ModelActivation(
                    target=target,
                    version=version,
                    action="activate",
                    actor="test",
                    reason="corrupt here",
                )
            )
        s.commit()
    if worker == "freshly started":  # a new worker has no earlier model in memory
        worker_app = create_app({**app.config})
        request.addfinalizer(worker_app.extensions["triage"].engine.dispose)
        client = worker_app.test_client()
    ready = client.get("/api/v1/ready").get_json()
    assert ready["status"] == "degraded"
    assert ready["models"] == {"priority": active_model, "category": active_model}
    assert any(version in p and "refused" in p for p in ready["problems"])
    preview = client.post(
        "/api/v1/triage",
        headers=keys.header(keys.intake),
        json={"subject": "Erro", "description": "O app fecha sozinho"},
    )
    assert preview.status_code == 200
    assert preview.get_json()["model_versions"]["category"] == active_model
