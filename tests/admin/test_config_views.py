"""Configuration views: rules tried and validated, API keys shown once, users without hashes."""

from __future__ import annotations

from sqlalchemy import select

from tests.admin.conftest import csrf_token, logged_in, make_ticket
from triage import db
from triage.tables import ApiKey, Rule, User

RULE = """name: printer-down
position: 5
conditions:
  keywords_any: ["impressora parada"]
actions:
  set_priority: urgent
"""


def test_rule_test_box_shows_the_decision_and_the_replay(app, client, active_model):
    make_ticket(app, subject="Impressora parada", description="A impressora parada do andar.")
    make_ticket(app, subject="Dúvida", description="Como exporto um relatório?")
    logged_in(client, "admin")
    url = "/admin/rules/edit/"
    response = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "spec": RULE,
            "action": "try",
            "subject": "Impressora parada",
            "description": "Ninguém imprime",
            "replay": "50",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "rule:printer-down" in page  # the candidate rule set the priority
    assert "1 of the last 2 tickets would be decided differently" in page
    with app.app_context():
        assert db.session().scalar(select(Rule).where(Rule.name == "printer-down")) is None


def test_an_invalid_rule_is_a_form_error_and_is_not_saved(app, client):
    logged_in(client, "admin")
    url = "/admin/rules/edit/"
    bad = RULE.replace("set_priority: urgent", "set_priority: whenever")
    response = client.post(
        url,
        data={"csrf_token": csrf_token(client, url), "spec": bad, "action": "save", "replay": "0"},
    )
    assert response.status_code == 422
    assert "whenever" in response.get_data(as_text=True)
    response = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "spec": "[1, 2",
            "action": "save",
            "replay": "0",
        },
    )
    assert response.status_code == 422
    with app.app_context():
        assert db.session().scalar(select(Rule).where(Rule.name == "printer-down")) is None
    ok = client.post(
        url,
        data={"csrf_token": csrf_token(client, url), "spec": RULE, "action": "save", "replay": "0"},
    )
    assert ok.status_code == 302
    with app.app_context():
        assert db.session().scalar(select(Rule).where(Rule.name == "printer-down")) is not None


def test_a_created_api_key_is_shown_once_and_works(app, client):
    logged_in(client, "admin")
    url = "/admin/api-keys/"
    response = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "name": "web form",
            "scope": "intake",
            "user_id": "",
        },
    )
    assert response.status_code == 201
    page = response.get_data(as_text=True)
    plain = page.split('<code class="h5">')[1].split("</code>")[0]
    assert plain.startswith("trg_")
    assert plain not in client.get(url).get_data(as_text=True)
    preview = client.post(
        "/api/v1/triage",
        headers={"X-API-Key": plain},
        json={"subject": "Teste", "description": "Teste de chave"},
    )
    assert preview.status_code == 200
    with app.app_context():
        key_id = db.session().scalar(select(ApiKey.id).where(ApiKey.name == "web form"))
    client.post(f"/admin/api-keys/{key_id}/revoke", data={"csrf_token": csrf_token(client, url)})
    refused = client.post(
        "/api/v1/triage",
        headers={"X-API-Key": plain},
        json={"subject": "Teste", "description": "Teste de chave"},
    )
    assert refused.status_code == 401


def test_users_are_created_with_a_hashed_password_never_shown(app, client):
    logged_in(client, "admin")
    url = "/admin/users/new/"
    response = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "email": "Nova@Example.com",
            "name": "Nova",
            "role": "agent",
            "active": "y",
            "locale": "pt_BR",
            "new_password": "uma senha longa",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        user = db.session().scalar(select(User).where(User.email == "nova@example.com"))
        assert user is not None and user.password_hash.startswith(("scrypt:", "pbkdf2:"))
        hash_ = user.password_hash
    for page in (client.get("/admin/users/"), client.get(f"/admin/users/edit/?id={user.id}")):
        assert page.status_code == 200 and hash_ not in page.get_data(as_text=True)
    short = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "email": "x@example.com",
            "name": "X",
            "role": "agent",
            "new_password": "short",
        },
    )
    assert short.status_code == 200  # the form again, with the error
    with app.app_context():
        assert db.session().scalar(select(User).where(User.email == "x@example.com")) is None


def test_the_admin_speaks_portuguese_when_asked(app, client):
    logged_in(client, "agent")
    page = client.get("/admin/tickets/", headers={"Accept-Language": "pt-BR,pt;q=0.9"})
    assert "Chamados" in page.get_data(as_text=True)
    page = client.get("/admin/tickets/?lang=en", headers={"Accept-Language": "pt-BR"})
    assert "Tickets" in page.get_data(as_text=True)
    page = client.get("/admin/tickets/", headers={"Accept-Language": "pt-BR"})
    assert "Chamados" not in page.get_data(as_text=True)  # the choice is kept in the session
