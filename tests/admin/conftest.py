"""Admin test helpers: users of each role, logged-in clients and CSRF tokens from real pages.

Helpers for every admin test (admin-models' too):
- `logged_in(client, role)` logs a new user of that role in through the login form and returns it;
- `csrf_token(client, url)` reads the CSRF token out of the form served at url;
- `make_ticket(app, **fields)` stores a ticket through the intake path and returns its id.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import pytest

from triage import db
from triage.auth import create_user
from triage.tables import Role

PASSWORD = "correct horse battery staple"
_COUNTER = itertools.count(1)
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass(frozen=True)
class LoggedIn:
    """The user a test client is logged in as."""

    id: int
    email: str
    role: Role


def add_user(app, role: Role | str, *, email: str | None = None) -> LoggedIn:
    """Create a user of role with PASSWORD and return who it is."""
    role = Role(role)
    email = email or f"{role.value}{next(_COUNTER)}@example.com"
    with app.app_context():
        s = db.session()
        user = create_user(s, email=email, name=f"Test {role.value}", password=PASSWORD, role=role)
        s.commit()
        return LoggedIn(user.id, user.email, role)


def csrf_token(client, url: str) -> str:
    """Return the CSRF token of the first form on the page at url."""
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    match = _TOKEN.search(page.get_data(as_text=True))
    assert match, f"no csrf_token on {url}"
    return match.group(1)


def logged_in(client, role: Role | str) -> LoggedIn:
    """Create a user of role and log client in as that user through the login form."""
    user = add_user(client.application, role)
    token = csrf_token(client, "/admin/login")
    response = client.post(
        "/admin/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return user


def make_ticket(
    app, subject: str = "Impressora parada", description: str = "Não imprime.", **fields
) -> int:
    """Create a ticket through the intake path (as the API does) and return its id."""
    from triage import intake
    from triage.schemas import TicketInput
    from triage.tables import utcnow

    with app.app_context():
        s = db.session()
        state = app.extensions["triage"]
        now = utcnow()
        ctx = intake.Context(
            catalog=state.catalog.get(s, now),
            models=state.models.current(s),
            thresholds=state.thresholds,
            now=now,
        )
        body = TicketInput.model_validate(
            {"subject": subject, "description": description, **fields}
        )
        ticket, _ = intake.submit(s, body, ctx, actor="test", api_key_id=None, idempotency_key=None)
        return ticket.id


@pytest.fixture
def agent_client(client):
    """A test client logged in as a new agent."""
    logged_in(client, Role.AGENT)
    return client


@pytest.fixture
def admin_client(client):
    """A test client logged in as a new admin."""
    logged_in(client, Role.ADMIN)
    return client
