"""What intake forms, agents and data staff see of the JSON API."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from tests.conftest import table_counts

OUTAGE = {
    "subject": "Sistema fora do ar",
    "description": "Olá, o sistema está fora do ar desde as 9h e ninguém da equipe consegue "
    "acessar o painel. Urgente!",
    "customer": "Padaria Pão Quente",
    "channel": "web",
    "stated_urgency": "critical",
    "impact": "organization",
}
QUESTION = {
    "subject": "How do I export a report?",
    "description": "Hi team, how can I export the monthly report to CSV? Thanks in advance.",
    "channel": "email",
}


def test_health_needs_no_key(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_ready_reports_the_model_in_use(client, active_model):
    body = client.get("/api/v1/ready").get_json()
    assert body["status"] == "ready"
    assert body["database"] is True
    assert body["mode"] == "model"
    assert body["models"] == {"priority": active_model, "category": active_model}


def test_ready_says_rules_only_without_a_model(client):
    body = client.get("/api/v1/ready").get_json()
    assert body["status"] == "degraded"
    assert body["mode"] == "rules_only"


def test_openapi_document_describes_every_route(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    paths = doc["paths"]
    assert {
        "/api/v1/triage",
        "/api/v1/tickets",
        "/api/v1/tickets/{ticket_id}",
        "/api/v1/health",
        "/api/v1/ready",
    } <= set(paths)
    body_ref = paths["/api/v1/tickets"]["post"]["requestBody"]["content"]["application/json"]
    name = body_ref["schema"]["$ref"].rsplit("/", 1)[-1]
    ticket_input = doc["components"]["schemas"][name]
    assert ticket_input["additionalProperties"] is False
    assert ticket_input["properties"]["subject"]["maxLength"] == 300
    assert "401" in paths["/api/v1/tickets"]["get"]["responses"]


def test_preview_decides_and_stores_nothing(app, client, keys, active_model):
    before = table_counts(app)
    response = client.post("/api/v1/triage", json=OUTAGE, headers=keys.header(keys.intake))
    assert response.status_code == 200
    body = response.get_json()
    assert body["priority"]["value"] == "urgent"
    assert body["queue"]["name"]
    assert body["model_versions"] == {"priority": active_model, "category": active_model}
    assert body["mode"] == "model"
    assert body["category"]["source"] == f"model:{active_model}"
    assert 0.0 <= body["category"]["confidence"] <= 1.0
    assert body["category"]["alternatives"]
    assert body["sla"]["first_response_due_at"] is not None
    assert isinstance(body["needs_review"], bool)
    assert table_counts(app) == before


def test_preview_without_a_model_says_rules_only(client, keys):
    body = client.post("/api/v1/triage", json=OUTAGE, headers=keys.header(keys.intake)).get_json()
    assert body["mode"] == "rules_only"
    assert body["model_versions"] == {}
    assert body["needs_review"] is True
    # The outage rule still makes it urgent, and says so.
    assert body["priority"]["value"] == "urgent"
    assert body["priority"]["source"].startswith("rule:")


def test_create_ticket_stores_decision_and_first_events(client, keys, active_model):
    response = client.post("/api/v1/tickets", json=QUESTION, headers=keys.header(keys.intake))
    assert response.status_code == 201
    ticket = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/tickets/{ticket['id']}")
    assert ticket["status"] == "new"
    assert ticket["language"] == "en"
    assert ticket["priority"] in {"urgent", "high", "medium", "low"}
    fields = {e["field"]: e for e in ticket["events"]}
    assert {"status", "priority", "category", "queue"} <= set(fields)
    assert fields["category"]["model_version"] == active_model
    assert fields["category"]["confidence"] == pytest.approx(ticket["category_confidence"])
    fetched = client.get(f"/api/v1/tickets/{ticket['id']}", headers=keys.header(keys.agent))
    # The answer is what was stored, to the event ids and timestamps.
    assert fetched.get_json() == ticket


def test_retried_post_with_idempotency_key_creates_one_ticket(app, client, keys, active_model):
    headers = {**keys.header(keys.intake), "Idempotency-Key": "form-42"}
    first = client.post("/api/v1/tickets", json=QUESTION, headers=headers)
    second = client.post("/api/v1/tickets", json=QUESTION, headers=headers)
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.get_json() == first.get_json()
    assert table_counts(app)["tickets"] == 1
    other = client.post("/api/v1/tickets", json=OUTAGE, headers=headers)
    assert other.status_code == 422
    assert other.get_json()["error"] == "idempotency_key_reused"
    assert table_counts(app)["tickets"] == 1


def test_simultaneous_retries_with_one_key_make_one_ticket(app, keys, active_model):
    """A client that retries before its first attempt answered: one ticket, the same answer."""
    headers = {**keys.header(keys.intake), "Idempotency-Key": "form-race"}
    start = threading.Barrier(6)

    def post(_: int):
        client = app.test_client()
        start.wait()
        return client.post("/api/v1/tickets", json=OUTAGE, headers=headers)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(post, range(6)))
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201]
    assert len({a.get_json()["id"] for a in answers}) == 1
    assert table_counts(app)["tickets"] == 1


def test_list_filters_and_pages(client, keys, active_model):
    ids = [
        client.post("/api/v1/tickets", json=body, headers=keys.header(keys.intake)).get_json()["id"]
        for body in (QUESTION, OUTAGE, QUESTION, OUTAGE, QUESTION)
    ]
    page = client.get("/api/v1/tickets?limit=2", headers=keys.header(keys.agent)).get_json()
    assert [t["id"] for t in page["items"]] == [ids[4], ids[3]]
    seen = [t["id"] for t in page["items"]]
    while page["next_cursor"]:
        page = client.get(
            f"/api/v1/tickets?limit=2&cursor={page['next_cursor']}", headers=keys.header(keys.agent)
        ).get_json()
        seen += [t["id"] for t in page["items"]]
    assert seen == ids[::-1]
    # A cursor beyond any possible id (found by fuzzing on PostgreSQL, which refused it: 503)
    # has every ticket below it.
    huge = client.get("/api/v1/tickets?limit=2&cursor=39760497776", headers=keys.header(keys.agent))
    assert huge.status_code == 200
    assert [t["id"] for t in huge.get_json()["items"]] == [ids[4], ids[3]]
    urgent = client.get("/api/v1/tickets?priority=urgent", headers=keys.header(keys.agent))
    assert {t["id"] for t in urgent.get_json()["items"]} == {ids[1], ids[3]}
    by_status = client.get("/api/v1/tickets?status=open", headers=keys.header(keys.agent))
    assert by_status.get_json()["items"] == []


def test_agent_correction_is_an_event_with_what_the_model_said(client, keys, active_model):
    ticket = client.post(
        "/api/v1/tickets", json=QUESTION, headers=keys.header(keys.intake)
    ).get_json()
    new_priority = "high" if ticket["priority"] != "high" else "low"
    response = client.patch(
        f"/api/v1/tickets/{ticket['id']}",
        json={"priority": new_priority, "category": "billing", "reason": "cliente VIP, fatura"},
        headers=keys.header(keys.agent),
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["priority"] == new_priority
    assert body["priority_human_set"] is True
    assert body["category"] == "billing"
    assert body["queue"]["name"] == "billing"
    assert body["priority_source"] == f"agent:{keys.agent_user_id}"
    corrections = [e for e in body["events"] if e["is_correction"]]
    assert {e["field"] for e in corrections} == {"priority", "category"}
    priority_event = next(e for e in corrections if e["field"] == "priority")
    assert priority_event["old_value"] == ticket["priority"]
    assert priority_event["new_value"] == new_priority
    assert priority_event["reason"] == "cliente VIP, fatura"
    assert priority_event["actor"] == f"user:{keys.agent_user_id}"
    assert priority_event["model_version"] == active_model
    assert priority_event["predicted_value"] == ticket["decision"]["priority"]["model_label"]
    # The answer is what was stored: the ticket, its new queue and the whole history.
    fetched = client.get(f"/api/v1/tickets/{ticket['id']}", headers=keys.header(keys.agent))
    assert fetched.get_json() == body


def test_status_changes_follow_the_transition_table_and_pause_the_sla(client, keys, active_model):
    ticket = client.post(
        "/api/v1/tickets", json=QUESTION, headers=keys.header(keys.intake)
    ).get_json()
    url = f"/api/v1/tickets/{ticket['id']}"
    agent = keys.header(keys.agent)
    opened = client.patch(url, json={"status": "open", "reason": "taking it"}, headers=agent)
    assert opened.get_json()["first_response_at"] is not None
    pending = client.patch(
        url, json={"status": "pending", "reason": "asked for logs"}, headers=agent
    ).get_json()
    assert pending["sla_state"] == "paused"
    assert pending["resolution_due_at"] is None
    resumed = client.patch(
        url, json={"status": "open", "reason": "logs arrived"}, headers=agent
    ).get_json()
    assert resumed["resolution_due_at"] is not None
    assert datetime.fromisoformat(resumed["resolution_due_at"]) >= datetime.fromisoformat(
        ticket["resolution_due_at"]
    )
    assert client.get(url, headers=agent).get_json() == resumed  # the answer is what was stored
    closed = client.patch(url, json={"status": "closed", "reason": "done"}, headers=agent)
    assert closed.get_json()["closed_at"] is not None
    assert client.get(url, headers=agent).get_json() == closed.get_json()
    again = client.patch(url, json={"status": "open", "reason": "reopen"}, headers=agent)
    assert again.status_code == 409
    assert again.get_json()["error"] == "ticket_closed"


def test_invalid_transition_is_refused(client, keys, active_model):
    ticket = client.post(
        "/api/v1/tickets", json=QUESTION, headers=keys.header(keys.intake)
    ).get_json()
    url = f"/api/v1/tickets/{ticket['id']}"
    client.patch(
        url, json={"status": "resolved", "reason": "fixed"}, headers=keys.header(keys.agent)
    )
    response = client.patch(
        url, json={"status": "pending", "reason": "?"}, headers=keys.header(keys.agent)
    )
    assert response.status_code == 409
    assert response.get_json()["error"] == "invalid_transition"


# ---- authentication and scopes ----

ROUTES = [
    ("post", "/api/v1/triage", QUESTION),
    ("post", "/api/v1/tickets", QUESTION),
    ("get", "/api/v1/tickets", None),
    ("get", "/api/v1/tickets/1", None),
    ("patch", "/api/v1/tickets/1", {"priority": "low", "reason": "x"}),
]


@pytest.mark.parametrize(("method", "url", "body"), ROUTES)
def test_every_route_refuses_a_missing_or_unknown_key(client, method, url, body):
    for headers in (
        {},
        {"X-API-Key": "trg_not-a-real-key"},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
    ):
        response = getattr(client, method)(url, json=body, headers=headers)
        assert response.status_code == 401
        assert response.get_json()["error"] == "unauthorized"


@pytest.mark.parametrize(
    ("method", "url", "body", "scope"),
    [
        ("get", "/api/v1/tickets", None, "intake"),
        ("get", "/api/v1/tickets/1", None, "intake"),
        ("patch", "/api/v1/tickets/1", {"priority": "low", "reason": "x"}, "intake"),
        ("patch", "/api/v1/tickets/1", {"priority": "low", "reason": "x"}, "data_staff"),
        ("post", "/api/v1/tickets", QUESTION, "data_staff"),
        ("post", "/api/v1/triage", QUESTION, "data_staff"),
    ],
)
def test_wrong_scope_is_forbidden(app, client, keys, method, url, body, scope):
    before = table_counts(app)
    response = getattr(client, method)(url, json=body, headers=keys.header(getattr(keys, scope)))
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden"
    assert table_counts(app) == before


def test_bearer_header_works_too(client, keys, active_model):
    response = client.post(
        "/api/v1/triage", json=QUESTION, headers={"Authorization": f"Bearer {keys.intake}"}
    )
    assert response.status_code == 200


def test_revoked_key_is_refused_from_then_on(app, client, keys, runner, active_model):
    assert (
        client.post("/api/v1/triage", json=QUESTION, headers=keys.header(keys.intake)).status_code
        == 200
    )
    listing = runner.invoke(args=["list-api-keys"])
    key_id = next(line.split()[0] for line in listing.output.splitlines() if "form" in line)
    result = runner.invoke(args=["revoke-api-key", key_id])
    assert result.exit_code == 0, result.output
    response = client.post("/api/v1/triage", json=QUESTION, headers=keys.header(keys.intake))
    assert response.status_code == 401
