"""Rules are data: exported, imported and validated when saved, and they change decisions."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import table_counts

TICKET = {"subject": "Impressora do financeiro", "description": "A impressora não imprime boletos."}


def _preview(client, keys) -> dict:
    response = client.post("/api/v1/triage", json=TICKET, headers=keys.header(keys.intake))
    assert response.status_code == 200
    return response.get_json()


def test_rules_round_trip_through_a_file_and_change_the_decision(
    app, runner, client, keys, active_model, tmp_path
):
    out = tmp_path / "rules.yaml"
    assert runner.invoke(args=["rules", "export", "--out", str(out)]).exit_code == 0
    data = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert any(r["name"] == "service-outage" for r in data["rules"])
    before = _preview(client, keys)
    assert before["priority"]["value"] != "urgent"
    data["rules"].append(
        {
            "name": "printer-urgent",
            "position": 1,
            "conditions": {"keywords_any": ["impressora"]},
            "actions": {"set_priority": "urgent", "set_queue": "support", "add_tags": ["printer"]},
        }
    )
    out.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(args=["rules", "import", str(out)])
    assert result.exit_code == 0, result.output
    after = _preview(client, keys)
    assert after["priority"]["value"] == "urgent"
    assert after["priority"]["source"] == "rule:printer-urgent"
    assert after["queue"]["name"] == "support"
    assert "printer" in after["tags"]
    assert any(f["name"] == "printer-urgent" for f in after["rules_fired"])


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {
                "name": "bad-queue",
                "position": 1,
                "conditions": {"keywords_any": ["x"]},
                "actions": {"set_queue": "nowhere"},
            },
            "nowhere",
        ),
        (
            {
                "name": "bad-regex",
                "position": 1,
                "conditions": {"regex": "(unclosed"},
                "actions": {"add_tags": ["x"]},
            },
            "conditions.regex",
        ),
        (
            {
                "name": "slow-regex",
                "position": 1,
                "conditions": {"regex": "(a+)+$"},
                "actions": {"add_tags": ["x"]},
            },
            "conditions.regex",
        ),
        (
            {
                "name": "bad-priority",
                "position": 1,
                "conditions": {"keywords_any": ["x"]},
                "actions": {"set_priority": "p0"},
            },
            "p0",
        ),
        (
            {"name": "everything", "position": 1, "actions": {"set_priority": "urgent"}},
            "every ticket",
        ),
    ],
)
def test_an_invalid_rule_file_is_refused_and_nothing_changes(app, runner, tmp_path, rule, message):
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "rules": [rule]}), encoding="utf-8")
    before = table_counts(app)
    exported = runner.invoke(args=["rules", "export"]).output
    result = runner.invoke(args=["rules", "import", str(path)])
    assert result.exit_code != 0
    assert "rules not imported" in result.output
    assert message in result.output
    assert table_counts(app) == before
    assert runner.invoke(args=["rules", "export"]).output == exported


def test_rules_test_command_shows_the_decision(runner, active_model):
    result = runner.invoke(
        args=[
            "rules",
            "test",
            "--subject",
            "Site fora do ar",
            "--description",
            "Nosso site está fora do ar para todos",
        ]
    )
    assert result.exit_code == 0, result.output
    assert '"source": "rule:service-outage"' in result.output


def test_matrix_import_is_validated_and_used(app, runner, client, keys, active_model, tmp_path):
    exported = yaml.safe_load(runner.invoke(args=["matrix", "export"]).output)
    exported["cells"]["individual"]["low"] = "urgent"
    path = tmp_path / "matrix.yaml"
    path.write_text(yaml.safe_dump(exported), encoding="utf-8")
    assert runner.invoke(args=["matrix", "import", str(path)]).exit_code == 0
    body = client.post(
        "/api/v1/triage",
        headers=keys.header(keys.intake),
        json={**TICKET, "impact": "individual", "stated_urgency": "low"},
    ).get_json()
    assert body["matrix"]["priority"] == "urgent"
    assert body["priority"]["value"] == "urgent"
    del exported["cells"]["team"]
    path.write_text(yaml.safe_dump(exported), encoding="utf-8")
    result = runner.invoke(args=["matrix", "import", str(path)])
    assert result.exit_code != 0
    assert "team" in result.output


def test_saving_one_rule_adds_or_updates_it_and_refuses_an_invalid_one(app):
    from triage import db
    from triage.rules import RuleError, RuleSpec
    from triage.rules_store import current_rules, save_rule

    spec = RuleSpec.model_validate(
        {
            "name": "vip-billing",
            "position": 5,
            "conditions": {"tiers": ["enterprise"]},
            "actions": {"set_queue": "billing"},
        }
    )
    with app.app_context():
        s = db.session()
        count = len(current_rules(s))
        save_rule(s, spec)
        save_rule(s, spec.model_copy(update={"position": 7}))
        s.commit()
        rules = {r.name: r for r in current_rules(s)}
        assert len(rules) == count + 1
        assert rules["vip-billing"].position == 7
        assert rules["vip-billing"].actions.set_queue == "billing"
        bad = spec.model_copy(
            update={"actions": spec.actions.model_copy(update={"set_queue": "nowhere"})}
        )
        with pytest.raises(RuleError):
            save_rule(s, bad)
        s.rollback()
        assert {r.name: r for r in current_rules(s)}["vip-billing"].actions.set_queue == "billing"
