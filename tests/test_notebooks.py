"""The data-staff notebooks run on small data and show what their readers look for."""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import DEMO_CSV
from triage import model_store, seed, training
from triage.tables import utcnow

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = (
    "explore_ticket_export.ipynb",
    "evaluate_model_version.ipynb",
    "error_analysis_of_corrections.ipynb",
)
CATEGORIES = [name for name, _title, _queue in seed.CATEGORIES]


def demo_rows(start: int, stop: int) -> list[dict[str, str]]:
    """Return rows start..stop of the demo CSV."""
    with DEMO_CSV.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))[start:stop]


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def run_notebook(name: str, tmp_path: Path, env: dict[str, str]) -> nbformat.NotebookNode:
    """Execute a notebook from notebooks/ in a fresh kernel with only the given TRIAGE_ settings."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    kernel_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TRIAGE_") and key != "MPLBACKEND"
    }
    kernel_env.update(
        TRIAGE_NB_OUTPUT_DIR=str(tmp_path),
        TRIAGE_INSTANCE_PATH=str(tmp_path / "instance"),  # no instance/config.py of the checkout
        **env,
    )
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=120,
        startup_timeout=60,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    try:
        client.execute(env=kernel_env)
    finally:
        nbformat.write(nb, tmp_path / name)  # the executed notebook, to look at when a test fails
    warnings = [
        out["text"]
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if out.get("name") == "stderr" and "Warning" in out["text"]
    ]
    assert not warnings, warnings
    return nb


def printed(nb: nbformat.NotebookNode) -> str:
    """Return everything the notebook's cells printed."""
    return "".join(
        out["text"]
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if out["output_type"] == "stream" and out["name"] == "stdout"
    )


def pictures(nb: nbformat.NotebookNode) -> int:
    """Count the images the notebook shows."""
    return sum(
        "image/png" in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", [])
    )


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebooks_carry_no_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert set(nb.metadata) == {"kernelspec"}
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert nb.cells[0].cell_type == "markdown"


def test_exploration_shows_every_label_and_the_ones_too_rare_to_train(tmp_path):
    rows = demo_rows(0, 300)
    rows[10] = {**rows[10], "category": "legal"}  # one label with a single ticket
    export = write_csv(tmp_path / "export.csv", rows)

    nb = run_notebook("explore_ticket_export.ipynb", tmp_path, {"TRIAGE_NB_DATA": str(export)})
    out = printed(nb)

    assert "300 tickets; targets: priority, category" in out
    for target in ("priority", "category"):
        for label, n in Counter(row[target] for row in rows).items():
            assert re.search(rf"^  {label}\s+{n}\s+\d+\.\d%$", out, re.M), (target, label, n)
    assert re.search(r"all tickets: .*\ben \d+.*\bpt \d+", out)
    assert "category: label 'legal' has only 1 ticket" in out
    assert "priority: every label has enough tickets" in out
    assert "training would refuse this export" in out and "'legal' has 1 rows" in out
    assert pictures(nb) == 2  # class balance, text length


def test_evaluation_scores_a_version_on_labelled_data(tmp_path):
    data = training.TrainingData.from_rows(
        demo_rows(0, 600),
        text_columns=("subject", "description"),
        priority_column="priority",
        category_column="category",
        source="demo (first 600 rows)",
    )
    result = training.train(data)
    models = tmp_path / "models"
    version = model_store.save_version(
        models,
        result.pipelines,
        training=result.training,
        metrics=result.metrics,
        parent=None,
        now=utcnow(),
    )["version"]
    holdout = demo_rows(600, 800)
    labelled = write_csv(tmp_path / "holdout.csv", holdout)

    nb = run_notebook(
        "evaluate_model_version.ipynb",
        tmp_path,
        {
            "TRIAGE_NB_MODELS_DIR": str(models),
            "TRIAGE_NB_EVAL_DATA": str(labelled),
            "TRIAGE_NB_EVAL_TEXT_COLUMNS": "subject,description",
            "TRIAGE_NB_EVAL_CATEGORY_COLUMN": "category",
            "TRIAGE_NB_EVAL_PRIORITY_COLUMN": "priority",
        },
    )
    out = printed(nb)

    assert f"evaluating version {version} (targets: priority, category)" in out
    assert re.search(r"trained on\s+600 rows from demo \(first 600 rows\)", out)
    assert data.fingerprint in out
    scores = dict(
        re.findall(r"^(priority|category): macro-F1 ([0-9.]+), .* on 200 tickets$", out, re.M)
    )
    assert set(scores) == {"priority", "category"}
    assert all(0.0 <= float(f1) <= 1.0 for f1 in scores.values())
    table = out.split("\ncategory\n", 1)[1].split("\n\n", 1)[0]
    per_class = re.findall(r"^  (\w+)\s+[0-9.]+\s+[0-9.]+\s+([0-9.]+)\s+(\d+)$", table, re.M)
    counts = Counter(row["category"] for row in holdout)
    assert {label: int(n) for label, _, n in per_class} == counts
    f1s = [float(f1) for _, f1, _ in per_class]
    assert f1s == sorted(f1s)  # worst label first
    assert pictures(nb) == 4  # reliability and confusion matrix for each target
    assert (tmp_path / f"confusion-{version}-category.png").is_file()
    assert out.count("       words: ") >= 3


def _create(client, keys, row: dict[str, str]) -> dict:
    ticket = {"subject": row["subject"], "description": row["description"]}
    response = client.post("/api/v1/tickets", json=ticket, headers=keys.header(keys.intake))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _patch(client, keys, ticket: dict, change: dict[str, str]) -> None:
    response = client.patch(
        f"/api/v1/tickets/{ticket['id']}",
        headers=keys.header(keys.agent),
        json={**change, "reason": "notebook test"},
    )
    assert response.status_code == 200, response.get_json()


def test_error_analysis_shows_what_agents_corrected(app, client, keys, active_model, tmp_path):
    tickets = [_create(client, keys, row) for row in demo_rows(3000, 3006)]
    predicted = [t["decision"]["category"]["model_label"] for t in tickets]
    changes = Counter()
    for ticket, label in zip(tickets[:2], predicted[:2], strict=True):
        other = next(c for c in CATEGORIES if c not in (label, ticket["category"]))
        _patch(client, keys, ticket, {"category": other})
        changes[label, other] += 1
    for ticket, label in zip(tickets[2:4], predicted[2:4], strict=True):
        _patch(client, keys, ticket, {"category": label})  # the agent confirms the model
    priority_said = tickets[4]["decision"]["priority"]["model_label"]
    other_priority = next(
        p for p in ("urgent", "low", "high") if p not in (priority_said, tickets[4]["priority"])
    )
    _patch(client, keys, tickets[4], {"priority": other_priority})
    # tickets[5] is never reviewed: it is no feedback

    nb = run_notebook(
        "error_analysis_of_corrections.ipynb",
        tmp_path,
        {
            "TRIAGE_DATABASE_URL": app.config["DATABASE_URL"],
            "TRIAGE_MODELS_DIR": app.config["MODELS_DIR"],
        },
    )
    out = printed(nb)

    assert "5 tickets reviewed by agents, 3 of them corrected" in out
    assert "category: 4 reviewed, 2 corrected (50%), 2 confirmed" in out
    assert "priority: 1 reviewed, 1 corrected (100%), 0 confirmed" in out
    assert re.search(rf"^  {active_model}\s+4\s+2\s+50%$", out, re.M)  # per model version
    for (said, label), n in changes.items():
        assert f"  {said} -> {label}: {n}" in out
    assert f"  {priority_said} -> {other_priority}: 1" in out
    assert re.search(r"corrected predictions below the threshold: \d of 2", out)
    for ticket in (*tickets[:2], tickets[4]):
        assert f"ticket {ticket['id']}, " in out
    assert out.count("  words behind ") == 3  # re-predicted with the version that served them
    assert "not available" not in out
    assert pictures(nb) >= 5  # rates, two change matrices, two confidence histograms
