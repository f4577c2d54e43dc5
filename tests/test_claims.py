"""Queues as agents see them: the order of work, the counts, and claiming the next ticket."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import TemplateDatabase, require_postgres
from triage import create_app, db
from triage.auth import create_api_key, create_user
from triage.seed import seed_defaults
from triage.tables import Queue, Role, Scope, SlaState, Status, Ticket, TicketEvent, utcnow


def add_ticket(
    s,
    *,
    queue: str = "support",
    priority: str = "medium",
    status: Status = Status.NEW,
    created_at: datetime | None = None,
    fr_due: datetime | None = None,
    res_due: datetime | None = None,
    at_risk_at: datetime | None = None,
    sla_state: SlaState = SlaState.OK,
    assignee_id: int | None = None,
    subject: str = "Erro ao gerar nota fiscal",
    **extra,
) -> Ticket:
    """Add a ticket row as intake would have left it (the caller commits)."""
    created_at = created_at or utcnow() - timedelta(hours=1)
    queue_id = s.scalar(select(Queue.id).where(Queue.name == queue))
    fields = {
        "subject": subject,
        "description": "O sistema mostra um erro ao gerar a nota fiscal do pedido 48213.",
        "priority": priority,
        "queue_id": queue_id,
        "status": status,
        "priority_source": "matrix",
        "queue_source": "routing:technical_support",
        "created_at": created_at,
        "updated_at": created_at,
        "sla_running_since": None if status != Status.NEW and status != Status.OPEN else created_at,
        "first_response_due_at": fr_due,
        "resolution_due_at": res_due,
        "sla_at_risk_at": at_risk_at,
        "sla_state": sla_state,
        "assignee_id": assignee_id,
    }
    fields.update(extra)
    ticket = Ticket(**fields)
    s.add(ticket)
    s.flush()
    return ticket


def queue_id(app, name: str) -> int:
    with app.app_context():
        return db.session().scalar(select(Queue.id).where(Queue.name == name))


@pytest.fixture
def ordered(app):
    """Tickets of the support queue whose queue order is known, plus some that must not show."""
    now = utcnow()
    h = timedelta(hours=1)
    with app.app_context():
        s = db.session()
        made = {
            "a": add_ticket(s, priority="low", fr_due=now + h, created_at=now - 24 * h),
            "b": add_ticket(s, priority="urgent", fr_due=now + 2 * h, created_at=now - 72 * h),
            "c": add_ticket(s, priority="high", fr_due=now + 2 * h, created_at=now - 48 * h),
            "d": add_ticket(s, priority="high", fr_due=now + 2 * h, created_at=now - 120 * h),
            "e": add_ticket(s, priority="urgent", created_at=now - 200 * h),  # no clock counting
            "f": add_ticket(s, res_due=now + h / 2, status=Status.OPEN),  # responded already
            "g": add_ticket(s, fr_due=now + 3 * h, res_due=now + h / 6),
        }
        # Not workable or not in this queue: never listed, never claimed.
        add_ticket(s, status=Status.PENDING, fr_due=now - h, sla_state=SlaState.PAUSED)
        add_ticket(s, status=Status.RESOLVED, sla_state=SlaState.MET)
        add_ticket(s, status=Status.CLOSED, sla_state=SlaState.MET)
        add_ticket(s, queue="billing", fr_due=now - h)
        s.commit()
        ids = {name: t.id for name, t in made.items()}
    return ids


QUEUE_ORDER = ["g", "f", "a", "b", "d", "c", "e"]


def test_queue_lists_workable_tickets_by_due_time_then_priority_then_age(
    app, client, keys, ordered
):
    support = queue_id(app, "support")
    response = client.get(f"/api/v1/queues/{support}/tickets", headers=keys.header(keys.agent))
    assert response.status_code == 200
    body = response.get_json()
    assert body["queue"]["name"] == "support"
    assert [item["id"] for item in body["items"]] == [ordered[n] for n in QUEUE_ORDER]
    assert body["next_offset"] is None


def test_queue_pages_follow_next_offset(app, client, keys, ordered):
    url = f"/api/v1/queues/{queue_id(app, 'support')}/tickets"
    seen, offset = [], 0
    while offset is not None:
        page = client.get(
            url, query_string={"limit": 3, "offset": offset}, headers=keys.header(keys.data_staff)
        ).get_json()
        seen.extend(item["id"] for item in page["items"])
        offset = page["next_offset"]
    assert seen == [ordered[n] for n in QUEUE_ORDER]


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"offset": -1}, "offset"),
        ({"x": 1}, "x"),
    ],
)
def test_queue_paging_refuses_bad_parameters(app, client, keys, query, problem):
    response = client.get(
        f"/api/v1/queues/{queue_id(app, 'support')}/tickets",
        query_string=query,
        headers=keys.header(keys.agent),
    )
    assert response.status_code == 422
    assert problem in response.get_json()["fields"]


def test_queues_count_open_tickets_per_priority_and_sla_state(app, client, keys):
    with app.app_context():
        s = db.session()
        add_ticket(s, priority="urgent", sla_state=SlaState.BREACHED)
        add_ticket(s, priority="urgent", sla_state=SlaState.AT_RISK, assignee_id=keys.agent_user_id)
        add_ticket(s, priority="low", status=Status.PENDING, sla_state=SlaState.PAUSED)
        add_ticket(s, priority="low", status=Status.RESOLVED, sla_state=SlaState.MET)
        add_ticket(s, queue="billing", priority="high")
        s.commit()
    response = client.get("/api/v1/queues", headers=keys.header(keys.data_staff))
    assert response.status_code == 200
    queues = {q["name"]: q for q in response.get_json()["items"]}
    assert set(queues) == {"support", "billing", "accounts", "security", "customer_care", "triage"}
    support = queues["support"]
    assert support["open"] == 3
    assert support["by_priority"] == {"urgent": 2, "high": 0, "medium": 0, "low": 1}
    assert (support["unassigned"], support["pending"]) == (1, 1)
    assert (support["at_risk"], support["breached"]) == (1, 1)
    assert queues["billing"]["by_priority"]["high"] == 1
    assert queues["security"]["open"] == 0


def test_claim_gives_the_first_ticket_in_queue_order_and_records_it(app, client, keys, ordered):
    support = queue_id(app, "support")
    response = client.post(f"/api/v1/queues/{support}/claim", headers=keys.header(keys.agent))
    assert response.status_code == 200, response.get_json()
    ticket = response.get_json()
    assert ticket["id"] == ordered["g"]
    assert ticket["assignee_id"] == keys.agent_user_id
    assert ticket["status"] == "open"
    assert ticket["first_response_at"] is not None  # an agent took it: the first response
    assert ticket["first_response_due_at"] is None
    claim_events = {e["field"]: e for e in ticket["events"]}
    assignee = claim_events["assignee"]
    assert (assignee["old_value"], assignee["new_value"]) == (None, str(keys.agent_user_id))
    assert assignee["actor"] == f"user:{keys.agent_user_id}"
    assert assignee["source"] == f"agent:{keys.agent_user_id}"
    assert assignee["reason"] == "claimed from queue support"
    status = claim_events["status"]
    assert (status["old_value"], status["new_value"]) == ("new", "open")

    second = client.post(f"/api/v1/queues/{support}/claim", headers=keys.header(keys.agent))
    assert second.get_json()["id"] == ordered["f"]
    assert [e["field"] for e in second.get_json()["events"]] == ["assignee"]  # already open

    listed = client.get(
        f"/api/v1/queues/{support}/tickets",
        query_string={"unassigned": "true"},
        headers=keys.header(keys.agent),
    ).get_json()
    assert [item["id"] for item in listed["items"]] == [ordered[n] for n in QUEUE_ORDER[2:]]


def test_claim_on_an_empty_queue_says_so(app, client, keys, ordered):
    billing = queue_id(app, "billing")
    first = client.post(f"/api/v1/queues/{billing}/claim", headers=keys.header(keys.agent))
    assert first.status_code == 200
    again = client.post(f"/api/v1/queues/{billing}/claim", headers=keys.header(keys.agent))
    assert again.status_code == 404
    assert again.get_json()["error"] == "queue_empty"


def test_unknown_queue_is_not_found(client, keys):
    for method, url in (
        ("post", "/api/v1/queues/9999/claim"),
        ("get", "/api/v1/queues/9999/tickets"),
    ):
        response = getattr(client, method)(url, headers=keys.header(keys.agent))
        assert response.status_code == 404
        assert response.get_json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("who", "method", "path", "status"),
    [
        ("intake", "post", "claim", 403),
        ("data_staff", "post", "claim", 403),
        ("intake", "get", "tickets", 403),
        ("intake", "get", "", 403),
        ("data_staff", "get", "tickets", 200),
        (None, "post", "claim", 401),
    ],
)
def test_queue_routes_check_the_key_scope(app, client, keys, who, method, path, status):
    support = queue_id(app, "support")
    url = "/api/v1/queues" if path == "" else f"/api/v1/queues/{support}/{path}"
    headers = keys.header(getattr(keys, who)) if who else {}
    assert getattr(client, method)(url, headers=headers).status_code == status


def test_claim_needs_a_key_that_belongs_to_a_person(app, client, ordered):
    with app.app_context():
        s = db.session()
        _, shared = create_api_key(s, name="shared agent key", scope=Scope.AGENT)
        s.commit()
    response = client.post(
        f"/api/v1/queues/{queue_id(app, 'support')}/claim", headers={"X-API-Key": shared}
    )
    assert response.status_code == 403
    body = response.get_json()
    assert body["error"] == "user_required"
    assert "belongs to a user" in body["message"]


def test_openapi_describes_the_queue_routes(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    claim = paths["/api/v1/queues/{queue_id}/claim"]["post"]
    assert "queue_empty" in claim["summary"]
    assert "404" in claim["responses"] and "403" in claim["responses"]
    assert {"/api/v1/queues", "/api/v1/queues/{queue_id}/tickets"} <= set(paths)


# ---- many agents claiming at once ----


def _standalone_app(url: str, tmp_path: Path):
    """An app of its own on url, seeded, whatever database the rest of the suite uses."""
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": url,
            "MODELS_DIR": str(tmp_path / "models"),
            "CATALOG_TTL_SECONDS": 30.0,
            "SECRET_KEY": "test",
        }
    )
    with app.app_context():
        s = db.session()
        seed_defaults(s)
        s.commit()
    return app


def _claim_concurrently(app, agents: int, claims_each: int) -> None:
    """Let agents claim from the support queue at once; check each ticket went to exactly one."""
    tickets = agents * claims_each
    rng = random.Random(3)
    now = utcnow()
    with app.app_context():
        s = db.session()
        plain_keys = []
        for i in range(agents):
            user = create_user(
                s,
                email=f"agente{i}@example.com",
                name=f"Agente {i}",
                password="x" * 12,
                role=Role.AGENT,
            )
            plain_keys.append(
                (user.id, create_api_key(s, name=f"a{i}", scope=Scope.AGENT, user=user)[1])
            )
        for _ in range(tickets):
            add_ticket(
                s,
                priority=rng.choice(["urgent", "high", "medium", "low"]),
                fr_due=now + timedelta(minutes=rng.randint(1, 600)),
                created_at=now - timedelta(minutes=rng.randint(1, 600)),
            )
        s.commit()
        support = s.scalar(select(Queue.id).where(Queue.name == "support"))

    results: dict[int, list[tuple[int, int]]] = {uid: [] for uid, _ in plain_keys}
    failures: list[str] = []
    barrier = threading.Barrier(agents)

    def work(user_id: int, key: str) -> None:
        client = app.test_client()
        barrier.wait()
        for _ in range(claims_each):
            response = client.post(f"/api/v1/queues/{support}/claim", headers={"X-API-Key": key})
            if response.status_code != 200:
                failures.append(f"{response.status_code} {response.get_data(as_text=True)}")
                continue
            body = response.get_json()
            results[user_id].append((body["id"], body["assignee_id"]))

    threads = [threading.Thread(target=work, args=pair) for pair in plain_keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not failures, failures[:3]

    claimed = [ticket_id for got in results.values() for ticket_id, _ in got]
    assert len(claimed) == tickets
    assert len(set(claimed)) == tickets  # no ticket handed out twice
    for user_id, got in results.items():
        assert len(got) == claims_each
        assert all(assignee == user_id for _, assignee in got)
    with app.app_context():
        s = db.session()
        rows = s.execute(select(Ticket.id, Ticket.assignee_id, Ticket.status)).all()
        assert {r.id for r in rows} == set(claimed)  # none lost: every ticket claimed once
        owner = {ticket_id: uid for uid, got in results.items() for ticket_id, _ in got}
        assert all(r.assignee_id == owner[r.id] and r.status == Status.OPEN for r in rows)
        events = s.execute(
            select(TicketEvent.ticket_id, TicketEvent.actor, TicketEvent.new_value).where(
                TicketEvent.field == "assignee"
            )
        ).all()
        assert Counter(e.ticket_id for e in events) == Counter(set(claimed))  # one each
        assert all(e.actor == f"user:{owner[e.ticket_id]}" for e in events)
        assert all(e.new_value == str(owner[e.ticket_id]) for e in events)
        assert s.scalar(select(func.count()).where(TicketEvent.field == "status")) == tickets
    empty = app.test_client().post(
        f"/api/v1/queues/{support}/claim", headers={"X-API-Key": plain_keys[0][1]}
    )
    assert empty.get_json()["error"] == "queue_empty"


@pytest.mark.postgres
@pytest.mark.slow
def test_eight_agents_claiming_at_once_on_postgresql_get_each_ticket_once(tmp_path):
    template = TemplateDatabase(require_postgres(), tmp_path)
    app = _standalone_app(template.url, tmp_path)
    try:
        _claim_concurrently(app, agents=8, claims_each=50)
    finally:
        app.extensions["triage"].engine.dispose()
        template.close()


def test_agents_claiming_at_once_on_sqlite_get_each_ticket_once(tmp_path):
    template = TemplateDatabase("", tmp_path)
    app = _standalone_app(template.url, tmp_path)
    try:
        _claim_concurrently(app, agents=4, claims_each=15)
    finally:
        app.extensions["triage"].engine.dispose()
        template.close()


def test_claimed_ticket_keeps_its_sla_clock(app, client, keys):
    """Claiming records the first response; the resolution clock keeps running from intake."""
    started = utcnow() - timedelta(minutes=10)
    with app.app_context():
        s = db.session()
        ticket = add_ticket(s, priority="urgent", created_at=started, fr_due=started)
        s.commit()
        ticket_id = ticket.id
    client.post(f"/api/v1/queues/{queue_id(app, 'support')}/claim", headers=keys.header(keys.agent))
    with app.app_context():
        t = db.session().get(Ticket, ticket_id)
        assert t.first_response_at is not None
        # urgent resolves in 4 h on the 24x7 calendar, counted from intake.
        assert abs(t.resolution_due_at - (started + timedelta(hours=4))) < timedelta(seconds=1)
        assert t.sla_state in (SlaState.OK, SlaState.AT_RISK)
