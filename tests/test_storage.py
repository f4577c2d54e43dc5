"""The database: migrations match the tables, history is append-only, times are UTC."""

from __future__ import annotations

from datetime import UTC

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from triage import db
from triage.tables import Base, Ticket, TicketEvent


def test_migrations_create_exactly_the_tables_of_the_models(app):
    with app.app_context(), db.engine().connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ticket_events SET new_value = 'low'",
        "DELETE FROM ticket_events",
    ],
)
def test_ticket_history_cannot_be_rewritten(app, client, keys, active_model, statement):
    created = client.post(
        "/api/v1/tickets",
        headers=keys.header(keys.intake),
        json={"subject": "Erro no login", "description": "Não consigo entrar."},
    )
    assert created.status_code == 201
    with app.app_context():
        s = db.session()
        with pytest.raises(DatabaseError, match="append-only"):
            s.execute(text(statement))
            s.commit()
        s.rollback()
        assert s.scalar(select(TicketEvent.id).limit(1)) is not None


def test_times_come_back_aware_in_utc(app, client, keys, active_model):
    client.post(
        "/api/v1/tickets",
        headers=keys.header(keys.intake),
        json={"subject": "Fatura", "description": "Cobrança em duplicidade no cartão."},
    )
    with app.app_context():
        ticket = db.session().scalar(select(Ticket))
        assert ticket.created_at.tzinfo is UTC or ticket.created_at.utcoffset().total_seconds() == 0
        assert ticket.first_response_due_at > ticket.created_at
