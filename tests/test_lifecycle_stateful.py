"""Stateful property test of the ticket life cycle on the real database, with time passed in.

Hypothesis drives random sequences of intake, status changes, corrections, claims, SLA sweeps
and the passing of time through the domain functions the API and the admin call
(intake.submit, tickets.update_ticket, queues.claim_next, sweep.sweep), each at an instant the
test chooses. After every step the database is checked against what the steps allow:
- only the changes in tickets.TRANSITIONS happen; a refused one is a 4xx and changes nothing;
- a pending ticket's resolution clock stands still, and time spent pending is never counted;
- a claim hands out only unassigned workable tickets, so no ticket is claimed twice;
- each correction is one event with the old value and the model's prediction, and the sweep
  never overrides a priority a person set;
- the event history replays to the ticket's current fields.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload, selectinload

from triage import db, intake, sweep
from triage.auth import create_user
from triage.errors import ApiError
from triage.queues import WORKABLE, claim_next
from triage.schemas import TicketInput, TicketPatch
from triage.tables import (
    Role,
    SlaPolicy,
    SlaState,
    Status,
    Ticket,
)
from triage.tickets import TRANSITIONS, Actor, get_ticket, update_ticket

EXAMPLES = int(os.environ.get("TRIAGE_STATEFUL_EXAMPLES") or 12)
STEPS = int(os.environ.get("TRIAGE_STATEFUL_STEPS") or 25)
# A Monday morning in São Paulo's business hours.
START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SUBJECTS = [
    ("Sistema fora do ar", "Ninguém da equipe consegue acessar o painel desde as 9h."),
    ("Cobrança duplicada", "Fui cobrado duas vezes na fatura deste mês."),
    ("How do I export a report?", "Hi, how can I export the monthly report to CSV?"),
    ("Senha não funciona", "Não consigo entrar, a senha foi recusada."),
    ("API returns 500", "Our integration gets server errors on every call since today."),
]
FIELDS = ("status", "priority", "category", "queue", "assignee")


def _snapshot(t: Ticket) -> dict[str, object]:
    return {
        "status": t.status,
        "priority": t.priority,
        "category": t.category,
        "queue_id": t.queue_id,
        "assignee_id": t.assignee_id,
        "priority_human_set": t.priority_human_set,
        "category_human_set": t.category_human_set,
        "sla_consumed_seconds": t.sla_consumed_seconds,
        "sla_running_since": t.sla_running_since,
        "resolved_at": t.resolved_at,
        "updated_at": t.updated_at,
    }


class Lifecycle(RuleBasedStateMachine):
    """Tickets, two agents and a clock that only moves forward."""

    app = None  # set by the test

    tickets = Bundle("tickets")

    @initialize()
    def start(self) -> None:
        self.ctx = self.app.app_context()
        self.ctx.push()
        self.s = db.session()
        # Events are append-only, so earlier runs' tickets stay; closed (behind the domain's
        # back: they are out of this run's story) they are out of reach of claims and sweeps,
        # and the checks look at this run's tickets only.
        self.first_id = (self.s.scalar(select(func.max(Ticket.id))) or 0) + 1
        self.s.execute(update(Ticket).values(status=Status.CLOSED))
        self.s.commit()
        self.now = START
        self.state = self.app.extensions["triage"]
        # The model: what each ticket's fields must be, and facts the steps established.
        self.expected: dict[int, dict[str, object]] = {}
        self.paused_consumed: dict[int, float] = {}
        self.consumed_seen: dict[int, float] = {}
        self.claimed: set[int] = set()

    def teardown(self) -> None:
        if getattr(self, "ctx", None) is not None:
            self.s.rollback()
            self.ctx.pop()

    def _catalog(self):
        return self.state.catalog.get(self.s, self.now)

    def _load(self, ticket_id: int) -> Ticket:
        self.s.expire_all()
        return get_ticket(self.s, ticket_id, with_events=True)

    # ---- steps ----

    @rule(target=tickets, text=st.sampled_from(SUBJECTS))
    def intake(self, text: tuple[str, str]) -> int:
        ctx = intake.Context(
            catalog=self._catalog(),
            models=self.state.models.current(self.s),
            thresholds=self.state.thresholds,
            now=self.now,
        )
        body = TicketInput(subject=text[0], description=text[1])
        ticket, created = intake.submit(
            self.s, body, ctx, actor="test", api_key_id=None, idempotency_key=None
        )
        assert created
        self.expected[ticket.id] = _snapshot(ticket)
        self.consumed_seen[ticket.id] = ticket.sla_consumed_seconds
        return ticket.id

    @rule(minutes=st.sampled_from([3 * 24 * 60, 8 * 60, 60, 15, 1]))
    def time_passes(self, minutes: int) -> None:
        # Big steps first: hypothesis favours early choices, and SLA targets are hours long.
        self.now += timedelta(minutes=minutes)

    @rule(ticket_id=tickets, new=st.sampled_from(list(Status)), agent=st.sampled_from([0, 1]))
    def change_status(self, ticket_id: int, new: Status, agent: int) -> None:
        ticket = self._load(ticket_id)
        old = ticket.status
        before, events_before = _snapshot(ticket), len(ticket.events)
        patch = TicketPatch(status=new, reason=f"status to {new.value}")
        try:
            update_ticket(
                self.s,
                ticket,
                patch,
                actor=self.agents[agent],
                catalog=self._catalog(),
                now=self.now,
            )
        except ApiError as exc:
            self.s.rollback()
            assert 400 <= exc.status < 500
            assert old == Status.CLOSED or new not in TRANSITIONS[old], (old, new, exc.code)
            after = self._load(ticket_id)
            assert _snapshot(after) == before and len(after.events) == events_before
            return
        self.s.commit()
        assert new == old or new in TRANSITIONS[old], f"{old} -> {new} was accepted"
        after = self._load(ticket_id)
        assert after.status == new
        if new != old:
            last = [e for e in after.events if e.field == "status"][-1]
            assert (last.old_value, last.new_value, last.at) == (old.value, new.value, self.now)
        if new == Status.PENDING and old != Status.PENDING:
            assert after.sla_running_since is None
            self.paused_consumed[ticket_id] = after.sla_consumed_seconds
        if old == Status.PENDING and new != Status.PENDING:
            # Time spent pending is not counted: the clock resumes from what it had banked.
            assert after.sla_consumed_seconds == self.paused_consumed.pop(ticket_id)
            if new == Status.OPEN:
                assert after.sla_running_since == self.now
        self.expected[ticket_id] = _snapshot(after)

    @rule(ticket_id=tickets, pick=st.integers(min_value=0, max_value=50))
    def correct_priority(self, ticket_id: int, pick: int) -> None:
        self._correct(ticket_id, "priority", pick)

    @rule(ticket_id=tickets, pick=st.integers(min_value=0, max_value=50))
    def correct_category(self, ticket_id: int, pick: int) -> None:
        self._correct(ticket_id, "category", pick)

    def _correct(self, ticket_id: int, field: str, pick: int) -> None:
        catalog = self._catalog()
        choices = list(catalog.priorities if field == "priority" else catalog.category_queue)
        value = choices[-1 - pick % len(choices)]  # hypothesis starts at 0: the least urgent
        ticket = self._load(ticket_id)
        old = getattr(ticket, field)
        predicted = (ticket.decision or {}).get(field, {}).get("model_label")
        events_before = len(ticket.events)
        patch = TicketPatch(**{field: value, "reason": "agent correction"})
        try:
            update_ticket(
                self.s, ticket, patch, actor=self.agents[0], catalog=catalog, now=self.now
            )
        except ApiError as exc:
            self.s.rollback()
            assert exc.status == 409 and ticket.status == Status.CLOSED
            return
        self.s.commit()
        after = self._load(ticket_id)
        new_events = after.events[events_before:]
        corrections = [e for e in new_events if e.is_correction]
        if value == old:
            assert corrections == []
        else:
            assert len(corrections) == 1, corrections
            (event,) = corrections
            assert (event.field, event.old_value, event.new_value) == (field, old, value)
            assert event.predicted_value == predicted
            assert event.source == self.agents[0].source and event.at == self.now
        assert getattr(after, f"{field}_human_set")
        self.expected[ticket_id] = _snapshot(after)

    @rule(agent=st.sampled_from([0, 1]), which=st.integers(min_value=0, max_value=20))
    def claim(self, agent: int, which: int) -> None:
        catalog = self._catalog()
        queues = sorted(catalog.queues.values(), key=lambda q: q.id)
        queue = queues[which % len(queues)]
        claimable = set(
            self.s.scalars(
                select(Ticket.id).where(
                    Ticket.queue_id == queue.id,
                    Ticket.status.in_(WORKABLE),
                    Ticket.assignee_id.is_(None),
                )
            )
        )
        actor = self.agents[agent]
        ticket = claim_next(self.s, queue, actor=actor, catalog=catalog, now=self.now)
        self.s.commit()
        if ticket is None:
            assert not claimable
            return
        assert ticket.id in claimable and ticket.id not in self.claimed
        self.claimed.add(ticket.id)
        after = self._load(ticket.id)
        assert after.assignee_id == actor.user_id and after.status == Status.OPEN
        self.expected[ticket.id] = _snapshot(after)

    @rule(days=st.sampled_from([10, 0]))
    def sla_sweep(self, days: int) -> None:
        # Ten days on, every running clock has breached: the sweep escalates what it may.
        self.now += timedelta(days=days)
        sweep.sweep(self.s, self._catalog(), self.now, notify=lambda *a, **k: None)
        self.s.expire_all()
        for ticket_id, exp in self.expected.items():
            t = get_ticket(self.s, ticket_id, with_events=True)
            if t.priority != exp["priority"]:
                # Only an escalation, and never over a person's choice.
                assert not exp["priority_human_set"], "the sweep changed a human-set priority"
                assert t.sla_state == SlaState.BREACHED
                last = [e for e in t.events if e.field == "priority"][-1]
                assert last.source.startswith("sla") and last.old_value == exp["priority"]
            self.expected[ticket_id] = {**exp, "priority": t.priority}

    # ---- invariants, read back from the database after every step ----

    @invariant()
    def database_matches_the_steps(self) -> None:
        if not hasattr(self, "expected"):
            return
        self.s.expire_all()
        rows = self.s.scalars(
            select(Ticket)
            .where(Ticket.id >= self.first_id)
            .options(selectinload(Ticket.events), joinedload(Ticket.queue))
        ).all()
        assert {t.id for t in rows} == set(self.expected)
        for t in rows:
            exp = self.expected[t.id]
            now_state = _snapshot(t)
            for key in (
                "status",
                "priority",
                "category",
                "queue_id",
                "assignee_id",
                "priority_human_set",
                "category_human_set",
            ):
                assert now_state[key] == exp[key], (t.id, key, now_state[key], exp[key])
            self._check_clock(t)
            self._check_history(t)

    def _check_clock(self, t: Ticket) -> None:
        assert t.sla_consumed_seconds >= self.consumed_seen[t.id], "SLA time ran backwards"
        self.consumed_seen[t.id] = t.sla_consumed_seconds
        if t.status in (Status.NEW, Status.OPEN):
            assert t.sla_running_since is not None and t.resolved_at is None
        elif t.status == Status.PENDING:
            # Paused: nothing counts, no resolution due time, and the banked time is unchanged.
            assert t.sla_running_since is None and t.resolved_at is None
            assert t.resolution_due_at is None
            assert t.sla_consumed_seconds == self.paused_consumed[t.id]
            assert t.sla_state in (SlaState.PAUSED, SlaState.BREACHED)
        else:
            assert t.sla_running_since is None and t.resolved_at is not None

    def _check_history(self, t: Ticket) -> None:
        """Replaying the events gives the ticket's fields; status steps follow TRANSITIONS."""
        current = {
            "status": t.status.value,
            "priority": t.priority,
            "category": t.category,
            "queue": t.queue.name,
            "assignee": None if t.assignee_id is None else str(t.assignee_id),
        }
        for field in FIELDS:
            chain = [e for e in sorted(t.events, key=lambda e: e.id) if e.field == field]
            value = None
            for e in chain:
                assert e.old_value == value, (t.id, field, e.old_value, value)
                if field == "status" and value is not None:
                    assert Status(e.new_value) in TRANSITIONS[Status(value)]
                value = e.new_value
            if chain or field != "assignee":
                assert value == current[field], (t.id, field, value, current[field])


def test_ticket_lifecycle(app, active_model) -> None:
    with app.app_context():
        s = db.session()
        # Breached tickets go up a priority, so the sweep has something it could overrule.
        s.execute(update(SlaPolicy).values(escalation={"raise_priority": 1}))
        agents = [
            create_user(
                s,
                email=f"agent{i}@example.com",
                name=f"Agente {i}",
                password="correct horse battery",
                role=Role.AGENT,
            )
            for i in (1, 2)
        ]
        actors = [Actor(f"user:{a.id}", a.id) for a in agents]
        s.commit()

    class Machine(Lifecycle):
        pass

    Machine.app = app
    Machine.agents = actors
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            derandomize=True,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
