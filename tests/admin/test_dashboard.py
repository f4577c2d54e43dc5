"""The dashboard: open tickets per queue and priority, SLA compliance, at risk now, model health."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from admin.dashboard import at_risk_now, sla_compliance
from tests.admin.conftest import logged_in, make_ticket
from triage import db
from triage.schemas import TicketPatch
from triage.tables import Role, Status, Ticket, utcnow
from triage.tickets import Actor, get_ticket, update_ticket


def test_dashboard_counts_open_tickets_per_queue(client, app, active_model):
    ids = [make_ticket(app, f"Impressora parada {i}", "Não imprime nada.") for i in range(3)]
    logged_in(client, Role.AGENT)
    page = client.get("/admin/dashboard/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    with app.app_context():
        queue = db.session().scalar(select(Ticket.queue_id).where(Ticket.id == ids[0]))
        same = (
            db.session().scalar(select(Ticket).where(Ticket.queue_id == queue).limit(1)).queue.name
        )
    assert f'data-queue="{same}"' in html
    assert "<svg" in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "Tickets at risk now" in html


@pytest.mark.parametrize("role", [Role.ADMIN, Role.AGENT, Role.DATA_STAFF], ids=str)
def test_every_role_gets_the_dashboard(client, active_model, role):
    logged_in(client, role)
    html = client.get("/admin/dashboard/").get_data(as_text=True)
    assert "SLA compliance" in html
    assert ("Tickets at risk now" in html) == (role != Role.DATA_STAFF)
    assert ("/admin/models/" + active_model in html) == (role != Role.AGENT)


def test_anonymous_is_sent_to_login(client):
    response = client.get("/admin/dashboard/")
    assert response.status_code == 302 and "/admin/login" in response.location


def test_sla_compliance_counts_met_and_missed_first_responses(app, active_model):
    on_time = make_ticket(app, "Impressora parada", "Não imprime.")
    late = make_ticket(app, "Impressora parada de novo", "Não imprime nada.")
    with app.app_context():
        s = db.session()
        catalog = app.extensions["triage"].catalog.get(s, utcnow())
        now = utcnow()
        answer = TicketPatch(status=Status.OPEN, reason="first answer")
        update_ticket(
            s, get_ticket(s, on_time), answer, actor=Actor("test", None), catalog=catalog, now=now
        )
        late_row = get_ticket(s, late)
        overdue_at = late_row.first_response_due_at + timedelta(hours=1)
        update_ticket(
            s, late_row, answer, actor=Actor("test", None), catalog=catalog, now=overdue_at
        )
        s.commit()
        result = sla_compliance(s, catalog, overdue_at + timedelta(minutes=1))
        assert result.first_response.met == 1
        assert result.first_response.missed == 1
        assert result.first_response.rate == 0.5


def test_at_risk_now_lists_tickets_past_their_at_risk_time(app, active_model):
    ticket_id = make_ticket(app, "Sistema fora do ar", "Ninguém acessa o painel.")
    with app.app_context():
        s = db.session()
        t = s.get(Ticket, ticket_id)
        assert at_risk_now(s, t.sla_at_risk_at - timedelta(seconds=1))[0] == 0
        total, rows = at_risk_now(s, t.sla_at_risk_at + timedelta(seconds=1))
        assert total == 1 and rows[0].id == ticket_id
