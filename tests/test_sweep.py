"""The SLA sweep: tickets become at risk or breached on time, once, and breaches escalate."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import func, select

from tests.conftest import table_counts
from tests.test_claims import add_ticket
from triage import db
from triage.catalog import load_catalog
from triage.sweep import sweep
from triage.tables import (
    BusinessCalendarRow,
    Queue,
    SlaPolicy,
    SlaState,
    Status,
    Ticket,
    TicketEvent,
)

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # a Wednesday
M = timedelta(minutes=1)
H = timedelta(hours=1)


def run_sweep(app, now: datetime = NOW, **kwargs):
    with app.app_context():
        s = db.session()
        return sweep(s, load_catalog(s, now), now, **kwargs)


def sla_events(app, ticket_id: int | None = None) -> list[TicketEvent]:
    with app.app_context():
        stmt = select(TicketEvent).where(TicketEvent.field == "sla_state")
        if ticket_id is not None:
            stmt = stmt.where(TicketEvent.ticket_id == ticket_id)
        return list(db.session().scalars(stmt.order_by(TicketEvent.id)))


def set_escalation(app, priority: str, escalation: dict, *, calendar: str | None = None) -> None:
    """Configure the escalation (and optionally the calendar) of a priority's default policy."""
    with app.app_context():
        s = db.session()
        policy = s.scalar(
            select(SlaPolicy).where(SlaPolicy.priority == priority, SlaPolicy.tier.is_(None))
        )
        policy.escalation = escalation
        if calendar is not None:
            policy.calendar_id = s.scalar(
                select(BusinessCalendarRow.id).where(BusinessCalendarRow.name == calendar)
            )
        s.commit()


def make(app, **fields) -> int:
    with app.app_context():
        s = db.session()
        fields.setdefault("created_at", NOW - 2 * H)
        ticket = add_ticket(s, **fields)
        s.commit()
        return ticket.id


def load(app, ticket_id: int) -> Ticket:
    with app.app_context():
        return db.session().get(Ticket, ticket_id)


# status, state now, at-risk at, first response due, resolution due -> state after, reason
# fmt: off
CASES = {
    "at risk": (
        Status.NEW, SlaState.OK, -M, 10 * M, 3 * H, SlaState.AT_RISK,
        "SLA first response target at risk",
    ),
    "at risk exactly now": (
        Status.NEW, SlaState.OK, timedelta(0), 10 * M, 3 * H, SlaState.AT_RISK, "at risk",
    ),
    "resolution at risk after the reply": (
        Status.OPEN, SlaState.OK, -M, None, H, SlaState.AT_RISK, "SLA resolution target at risk",
    ),
    "not yet at risk": (Status.NEW, SlaState.OK, M, 10 * M, 3 * H, SlaState.OK, None),
    "first response late": (
        Status.NEW, SlaState.OK, -H, -M, 3 * H, SlaState.BREACHED,
        "SLA first response target breached",
    ),
    "at risk, then resolution late": (
        Status.OPEN, SlaState.AT_RISK, -H, None, -timedelta(seconds=1), SlaState.BREACHED,
        "SLA resolution target breached",
    ),
    "both late": (
        Status.NEW, SlaState.OK, -3 * H, -2 * H, -M, SlaState.BREACHED,
        "SLA first response and resolution targets breached",
    ),
    "due exactly now": (
        Status.NEW, SlaState.OK, -H, timedelta(0), 3 * H, SlaState.BREACHED, "breached",
    ),
    "already at risk": (Status.NEW, SlaState.AT_RISK, -M, 10 * M, 3 * H, SlaState.AT_RISK, None),
    "already breached": (Status.OPEN, SlaState.BREACHED, -H, None, -M, SlaState.BREACHED, None),
    "no SLA policy": (Status.NEW, SlaState.OK, None, None, None, SlaState.OK, None),
    "pending (paused)": (Status.PENDING, SlaState.PAUSED, -H, -M, None, SlaState.PAUSED, None),
    "resolved": (Status.RESOLVED, SlaState.MET, -H, -M, -M, SlaState.MET, None),
    "closed": (Status.CLOSED, SlaState.MET, -H, -M, -M, SlaState.MET, None),
}
# fmt: on


@pytest.mark.parametrize(
    ("status", "state", "at_risk", "fr", "res", "expected", "reason"),
    list(CASES.values()),
    ids=list(CASES),
)
def test_sweep_marks_each_ticket_by_its_due_times(
    app, status, state, at_risk, fr, res, expected, reason
):
    def at(offset):
        return None if offset is None else NOW + offset

    ticket_id = make(
        app, status=status, sla_state=state, at_risk_at=at(at_risk), fr_due=at(fr), res_due=at(res)
    )
    before = load(app, ticket_id)
    report = run_sweep(app)
    after = load(app, ticket_id)
    assert after.sla_state == expected
    events = sla_events(app, ticket_id)
    if reason is None:
        assert events == []
        assert after.updated_at == before.updated_at
        assert report.at_risk + report.breached == 0
        return
    (event,) = events
    assert (event.old_value, event.new_value) == (state.value, expected.value)
    assert (event.actor, event.source, event.at) == ("system", "sla", NOW)
    assert reason in event.reason
    assert after.updated_at == NOW
    assert (report.at_risk, report.breached) == ((1, 0) if expected == SlaState.AT_RISK else (0, 1))


def test_sweep_works_in_batches_and_twice_changes_nothing_more(app):
    for i in range(7):
        make(app, at_risk_at=NOW - H, fr_due=NOW - M if i % 2 else NOW + H)
    first = run_sweep(app, batch_size=2)
    assert (first.breached, first.at_risk, first.events) == (3, 4, 7)
    assert first.batches >= 4  # two tickets at most per transaction
    counts = table_counts(app)
    with app.app_context():
        rows = db.session().execute(select(Ticket.id, Ticket.sla_state, Ticket.updated_at)).all()
    second = run_sweep(app, batch_size=2)
    assert (second.breached, second.at_risk, second.events, second.batches) == (0, 0, 0, 0)
    assert table_counts(app) == counts
    with app.app_context():
        assert (
            db.session().execute(select(Ticket.id, Ticket.sla_state, Ticket.updated_at)).all()
            == rows
        )


def test_the_cli_sweeps_as_of_a_given_time(app, runner):
    make(app, at_risk_at=NOW - H, fr_due=NOW - M)
    make(app, at_risk_at=NOW - M, fr_due=NOW + H)
    result = runner.invoke(args=["sla", "sweep", "--now", "2026-03-04T12:00:00-03:00"])
    assert result.exit_code == 0, result.output
    assert "SLA sweep as of 2026-03-04T15:00:00Z" in result.output
    lines = {
        line.rsplit(None, 1)[0].strip(): line.rsplit(None, 1)[1]
        for line in result.output.splitlines()[1:]
    }
    assert lines["marked at risk"] == "1"
    assert lines["marked breached"] == "1"
    again = runner.invoke(args=["sla", "sweep", "--now", "2026-03-04T15:00:00Z", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["events"] == 0


@pytest.mark.parametrize("now", ["2026-03-04T15:00:00", "yesterday"])
def test_the_cli_refuses_a_time_without_offset(app, runner, now):
    result = runner.invoke(args=["sla", "sweep", "--now", now])
    assert result.exit_code == 2
    assert "--now" in result.output


# ---- escalation on breach ----


def breach(app, priority: str, **fields) -> int:
    """Add a ticket whose first response is overdue."""
    return make(app, priority=priority, at_risk_at=NOW - H, fr_due=NOW - M, **fields)


def events_of(app, ticket_id: int, field: str) -> list[TicketEvent]:
    with app.app_context():
        return list(
            db.session().scalars(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == ticket_id, TicketEvent.field == field)
                .order_by(TicketEvent.id)
            )
        )


@pytest.mark.parametrize(
    ("priority", "steps", "raised_to"),
    [("low", 1, "medium"), ("low", 2, "high"), ("high", 5, "urgent"), ("urgent", 1, None)],
)
def test_breach_raises_the_priority_up_to_the_most_urgent(app, priority, steps, raised_to):
    set_escalation(app, priority, {"raise_priority": steps})
    ticket_id = breach(app, priority)
    report = run_sweep(app)
    ticket = load(app, ticket_id)
    raised = events_of(app, ticket_id, "priority")
    assert ticket.sla_state == SlaState.BREACHED
    if raised_to is None:
        assert (ticket.priority, raised, report.raise_at_top) == (priority, [], 1)
        return
    assert ticket.priority == raised_to
    assert ticket.priority_source == "sla"
    (event,) = raised
    assert (event.old_value, event.new_value, event.actor, event.source) == (
        priority,
        raised_to,
        "system",
        "sla",
    )
    assert "escalation" in event.reason
    assert report.priority_raised == 1


def test_breach_does_not_overrule_a_priority_an_agent_set(app):
    set_escalation(app, "medium", {"raise_priority": 1})
    ticket_id = breach(app, "medium", priority_human_set=True)
    report = run_sweep(app)
    assert load(app, ticket_id).priority == "medium"
    assert events_of(app, ticket_id, "priority") == []
    assert (report.raise_skipped_human, report.priority_raised, report.breached) == (1, 0, 1)


def test_raised_priority_keeps_the_sla_time_already_used(app):
    # Both policies on the 24x7 calendar so the arithmetic reads plainly.
    set_escalation(app, "medium", {"raise_priority": 1}, calendar="24x7")
    set_escalation(app, "high", {}, calendar="24x7")
    # One hour used before a pause, running again for the last four hours.
    running_since = NOW - 4 * H
    ticket_id = breach(
        app,
        "medium",
        created_at=NOW - 30 * H,
        sla_running_since=running_since,
        sla_consumed_seconds=3600.0,
    )
    run_sweep(app)
    ticket = load(app, ticket_id)
    assert ticket.priority == "high"
    # high: first response 2 h, resolution 16 h, minus the hour already used, from the restart.
    assert ticket.first_response_due_at == running_since + H
    assert ticket.resolution_due_at == running_since + 15 * H
    assert ticket.sla_at_risk_at is not None
    assert ticket.sla_state == SlaState.BREACHED
    assert ticket.sla_consumed_seconds == 3600.0


def test_breach_moves_the_ticket_to_the_escalation_queue(app):
    set_escalation(app, "low", {"queue": "security"})
    ticket_id = breach(app, "low")
    report = run_sweep(app)
    with app.app_context():
        ticket = db.session().get(Ticket, ticket_id)
        assert ticket.queue.name == "security"
        assert ticket.queue_source == "sla"
        assert ticket.updated_at == NOW
    (event,) = events_of(app, ticket_id, "queue")
    assert (event.old_value, event.new_value, event.source) == ("support", "security", "sla")
    assert report.requeued == 1


def test_unknown_escalation_queue_is_reported_not_fatal(app):
    set_escalation(app, "low", {"queue": "nowhere"})
    ticket_id = breach(app, "low")
    report = run_sweep(app)
    assert load(app, ticket_id).sla_state == SlaState.BREACHED
    assert report.escalation_errors == 1
    assert "nowhere" in report.problems[0]


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict]
    answer: int

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers["Content-Length"])
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(self.answer)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def webhook_server() -> Iterator:
    """Start local receivers on 127.0.0.1: `start(answer)` returns (url, received bodies)."""
    servers: list[HTTPServer] = []

    def start(answer: int = 204) -> tuple[str, list[dict]]:
        received: list[dict] = []
        handler = type("Receiver", (_Receiver,), {"received": received, "answer": answer})
        server = HTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/hooks/sla", received

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_breach_posts_a_notice_to_the_webhook(app, webhook_server):
    url, received = webhook_server()
    set_escalation(app, "medium", {"webhook": url})
    ticket_id = breach(app, "medium")
    report = run_sweep(app)
    assert report.webhooks_sent == 1
    (notice,) = received
    assert notice["ticket_id"] == ticket_id
    assert notice["state"] == "breached"
    assert notice["policy"] == "medium"
    assert notice["first_response_due_at"] == "2026-03-04T14:59:00Z"
    assert notice["resolution_due_at"] is None
    # Escalated once: the next sweep sends nothing more.
    assert run_sweep(app, NOW + H).webhooks_sent == 0
    assert len(received) == 1


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone"


def test_webhook_failures_are_counted_and_the_sweep_goes_on(app, webhook_server):
    failing_url, received = webhook_server(answer=500)
    set_escalation(app, "medium", {"webhook": failing_url, "raise_priority": 1})
    set_escalation(app, "low", {"webhook": _closed_port_url()})
    set_escalation(app, "high", {"webhook": "not a url"})
    medium, low, high = breach(app, "medium"), breach(app, "low"), breach(app, "high")
    report = run_sweep(app, webhook_timeout=2.0)
    assert (report.webhooks_sent, report.webhooks_failed, report.escalation_errors) == (0, 2, 1)
    assert len(received) == 1
    assert load(app, medium).priority == "high"  # the rest of the escalation still applied
    for ticket_id in (medium, low, high):
        assert load(app, ticket_id).sla_state == SlaState.BREACHED
    assert report.breached == 3


def test_escalation_happens_once_per_breach(app):
    set_escalation(app, "low", {"raise_priority": 1, "queue": "security"})
    ticket_id = breach(app, "low")
    run_sweep(app)
    later = run_sweep(app, NOW + 48 * H)
    assert (later.priority_raised, later.requeued) == (0, 0)
    assert len(events_of(app, ticket_id, "priority")) == 1
    assert len(events_of(app, ticket_id, "queue")) == 1
    assert len(sla_events(app, ticket_id)) == 1


def test_many_breaches_are_swept_in_a_few_statements(app):
    """Set-based, escalations too: statements grow with batches, not with tickets."""
    from sqlalchemy import event

    set_escalation(app, "medium", {"raise_priority": 1, "queue": "security"})
    with app.app_context():
        s = db.session()
        support = s.scalar(select(Queue.id).where(Queue.name == "support"))
        for i in range(300):
            add_ticket(s, at_risk_at=NOW - H, fr_due=NOW - M if i % 3 else NOW + H)
        s.commit()
        assert support is not None
    statements: list[str] = []
    with app.app_context():
        engine = db.engine()
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            report = run_sweep(app, batch_size=100)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        s = db.session()
        assert s.scalar(select(func.count()).select_from(TicketEvent)) == 300 + 2 * 200
        raised = s.scalar(select(func.count()).where(Ticket.priority == "high"))
        moved = s.scalar(select(func.count()).where(Ticket.queue_id != support))
    assert (report.breached, report.at_risk) == (200, 100)
    assert (report.priority_raised, report.requeued, raised, moved) == (200, 200, 200, 200)
    assert len(statements) < 40
