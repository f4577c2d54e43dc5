"""Only what agents corrected or confirmed becomes feedback, with what the model had said."""

from __future__ import annotations

import csv

from triage import db
from triage.feedback import feedback_rows

TICKET = {"subject": "Como emitir segunda via?", "description": "Bom dia, como emito o boleto?"}


def _create(client, keys) -> dict:
    response = client.post("/api/v1/tickets", json=TICKET, headers=keys.header(keys.intake))
    assert response.status_code == 201
    return response.get_json()


def test_corrections_and_confirmations_are_feedback_and_unreviewed_ones_are_not(
    app, client, keys, active_model, runner, tmp_path
):
    corrected, confirmed, untouched = (_create(client, keys) for _ in range(3))
    other = "urgent" if corrected["priority"] != "urgent" else "low"
    agent = keys.header(keys.agent)
    client.patch(
        f"/api/v1/tickets/{corrected['id']}",
        headers=agent,
        json={"priority": other, "reason": "cliente parado"},
    )
    client.patch(
        f"/api/v1/tickets/{confirmed['id']}",
        headers=agent,
        json={"category": confirmed["category"], "reason": "confere"},
    )
    with app.app_context():
        rows = {r.ticket_id: r for r in feedback_rows(db.session())}
    assert set(rows) == {corrected["id"], confirmed["id"]}
    fixed = rows[corrected["id"]]
    assert fixed.priority == other
    assert fixed.priority_label_source == "corrected"
    assert fixed.priority_predicted == corrected["decision"]["priority"]["model_label"]
    assert fixed.category is None  # nobody looked at the category: not ground truth
    assert fixed.model_version == active_model
    assert fixed.priority_model_version == active_model
    assert fixed.priority_confidence == corrected["decision"]["priority"]["confidence"]
    assert fixed.was_corrected
    kept = rows[confirmed["id"]]
    assert kept.category == confirmed["category"]
    assert kept.category_label_source == "confirmed"
    assert kept.priority is None
    assert not kept.was_corrected

    out = tmp_path / "feedback.csv"
    result = runner.invoke(args=["feedback", "export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as fh:
        exported = list(csv.DictReader(fh))
    assert {int(r["ticket_id"]) for r in exported} == {corrected["id"], confirmed["id"]}
    assert untouched["id"] not in {int(r["ticket_id"]) for r in exported}
