"""A ticket's SLA clock through pending, resume and a priority change, at chosen instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from triage import db, intake
from triage.schemas import TicketInput, TicketPatch
from triage.sla import add_business_seconds, business_seconds_between
from triage.tickets import Actor, update_ticket

# Monday 2026-11-23 10:00 in São Paulo (UTC-3): inside business hours 09:00-18:00.
T0 = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


def _ctx(app, now):
    state = app.extensions["triage"]
    s = db.session()
    return s, intake.Context(
        catalog=state.catalog.get(s, now),
        models=state.models.current(s),
        thresholds=state.thresholds,
        now=now,
    )


def _patch(app, ticket, now, **change):
    s, ctx = _ctx(app, now)
    patch = TicketPatch.model_validate({"reason": "test", **change}, strict=False)
    update_ticket(s, ticket, patch, actor=Actor("user:1", 1), catalog=ctx.catalog, now=now)
    s.commit()
    return ticket


def test_pending_pauses_and_a_priority_change_keeps_time_spent(app, active_model):
    with app.app_context():
        s, ctx = _ctx(app, T0)
        data = TicketInput.model_validate(
            {
                "subject": "Relatório lento",
                "description": "O relatório demora a abrir.",
                "impact": "team",
                "stated_urgency": "medium",
            },
            strict=False,
        )
        ticket, _ = intake.submit(s, data, ctx, actor="test", api_key_id=None, idempotency_key=None)
        s.commit()
        policy = ctx.catalog.policy_for(ticket.priority, None)
        cal = policy.calendar
        expected = add_business_seconds(cal, T0, policy.targets.resolution_seconds)
        assert ticket.resolution_due_at == expected

        # One business hour later the agent opens it, then waits on the customer for a day.
        t1 = T0 + timedelta(hours=1)
        _patch(app, ticket, t1, status="open")
        assert ticket.first_response_at == t1
        t2 = T0 + timedelta(hours=2)
        _patch(app, ticket, t2, status="pending")
        assert ticket.sla_state.value == "paused"
        assert ticket.resolution_due_at is None
        assert ticket.sla_consumed_seconds == business_seconds_between(cal, T0, t2) == 7200

        # Back on Tuesday 10:00 local: the clock resumes with two hours already used.
        t3 = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
        _patch(app, ticket, t3, status="open")
        remaining = policy.targets.resolution_seconds - 7200
        assert ticket.resolution_due_at == add_business_seconds(cal, t3, remaining)

        # Raised to urgent an hour later: the urgent target, minus the three hours spent.
        t4 = t3 + timedelta(hours=1)
        _patch(app, ticket, t4, priority="urgent")
        urgent = ctx.catalog.policy_for("urgent", None)
        spent = 7200 + business_seconds_between(cal, t3, t4)
        assert spent == 3 * 3600
        assert ticket.resolution_due_at == add_business_seconds(
            urgent.calendar, t3, urgent.targets.resolution_seconds - 7200
        )
        assert ticket.priority_human_set
