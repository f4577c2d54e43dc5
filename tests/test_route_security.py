"""Every route of the app, read from app.url_map, is either on the public list or refuses strangers.

A route added without protection fails here the day it is added: API routes must answer 401 to
no key and to a revoked key and 403 to a key of another scope, in the one error shape, changing
nothing; admin pages must send anonymous visitors to the login page (or answer 401/403).
API keys never show up in logs or in API responses.
"""

from __future__ import annotations

import logging
import re

import pytest
from flask import Flask
from werkzeug.routing import Rule

from tests.conftest import callers as callers_of
from tests.conftest import table_counts
from triage.auth import hash_key
from triage.tables import Scope

# Rules anyone may call, with the reason. Keep this list short: everything else needs a key or a
# login.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/health"): "liveness probe for load balancers; answers only 'ok'",
    ("GET", "/api/v1/ready"): "readiness probe; tells which model serves, no ticket data",
    ("GET", "/api/v1/openapi.json"): "the API's documentation, generated from the code",
    ("GET", "/admin/login"): "the login form itself",
    ("POST", "/admin/login"): "submitting the login form (CSRF-protected, rate-limited)",
}
# Files shipped with the code (CSS, JavaScript, fonts, images): any endpoint named "static" or
# "<blueprint>.static". They hold no data.
STATIC_ENDPOINT = re.compile(r"^(?:.+\.)?static$")
# Routes outside the API's endpoint decorator that take an API key, and the scopes they allow.
# The decorator's routes carry their scopes on the view (view.required_scopes).
OTHER_KEYED_ROUTES: dict[str, tuple[Scope, ...]] = {
    "/metrics": (Scope.DATA_STAFF,),  # or the METRICS_TOKEN bearer (tests/test_observability.py)
}
ADMIN_PREFIX = "/admin"
LOGIN_PATH = "/admin/login"
SKIPPED_METHODS = {"HEAD", "OPTIONS"}
_ARG = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _url(rule: Rule) -> str:
    """Fill the rule's variables with plausible values (an id of 1, a short name)."""
    return _ARG.sub(lambda m: "1" if m.group(1) in ("int", "float") else "x", rule.rule)


def _routes(app: Flask) -> list[tuple[str, Rule]]:
    return sorted(
        (
            (method, rule)
            for rule in app.url_map.iter_rules()
            for method in rule.methods or ()
            if method not in SKIPPED_METHODS
        ),
        key=lambda mr: (mr[1].rule, mr[0]),
    )


def _is_public(method: str, rule: Rule) -> bool:
    return (method, rule.rule) in PUBLIC or bool(STATIC_ENDPOINT.match(rule.endpoint))


def _declared_scopes(app: Flask, rule: Rule) -> tuple[Scope, ...] | None:
    view = app.view_functions[rule.endpoint]
    scopes = getattr(view, "required_scopes", None)
    return tuple(scopes) if scopes else OTHER_KEYED_ROUTES.get(rule.rule)


def _send(client, method: str, url: str, headers: dict[str, str]):
    if method in ("POST", "PUT", "PATCH"):
        return client.open(url, method=method, headers=headers, json={})
    return client.open(url, method=method, headers=headers)


@pytest.fixture
def callers(app, keys) -> dict[str, str]:
    """Plain keys by scope, plus one that was revoked."""
    return callers_of(app, keys, Scope.DATA_STAFF)


def _assert_error(response, status: int, what: str) -> None:
    assert response.status_code == status, f"{what}: {response.status_code} {response.data[:300]!r}"
    body = response.get_json(silent=True)
    assert isinstance(body, dict) and set(body) == {"error", "message", "fields"}, (what, body)


def test_public_list_names_real_routes(app) -> None:
    """A stale entry would silently open a route added later under the same name."""
    routes = {(m, r.rule) for m, r in _routes(app)}
    missing = [entry for entry in PUBLIC if entry not in routes]
    assert not missing, f"public list names routes that do not exist: {missing}"


def test_public_routes_answer_without_a_key(client) -> None:
    assert client.get("/api/v1/health").status_code == 200
    assert client.get("/api/v1/ready").status_code in (200, 503)
    assert client.get("/api/v1/openapi.json").get_json()["openapi"].startswith("3.")


def test_every_keyed_route_refuses_strangers(app, client, callers) -> None:
    checked = []
    before = table_counts(app)
    for method, rule in _routes(app):
        if _is_public(method, rule) or rule.rule.startswith(ADMIN_PREFIX):
            continue
        url = _url(rule)
        what = f"{method} {rule.rule}"
        scopes = _declared_scopes(app, rule)
        assert scopes, (
            f"{what} declares no API key scopes: build it with triage.api.spec.endpoint "
            "(scopes=...), or add it to PUBLIC in this file with the reason it is open"
        )
        _assert_error(_send(client, method, url, {}), 401, f"{what} without a key")
        _assert_error(
            _send(client, method, url, {"X-API-Key": callers["revoked"]}),
            401,
            f"{what} with a revoked key",
        )
        _assert_error(
            _send(client, method, url, {"Authorization": "Bearer trg_not-a-key"}),
            401,
            f"{what} with an unknown bearer key",
        )
        for scope in Scope:
            if scope not in scopes:
                _assert_error(
                    _send(client, method, url, {"X-API-Key": callers[scope.value]}),
                    403,
                    f"{what} with a {scope.value} key",
                )
        checked.append(what)
    assert table_counts(app) == before
    # The API's own routes are all in the table (this test cannot pass by checking nothing).
    assert {"PATCH /api/v1/tickets/<int:ticket_id>", "POST /api/v1/tickets"} <= set(checked)


def test_every_admin_page_needs_a_login(app, client) -> None:
    admin_routes = [
        (m, r) for m, r in _routes(app) if r.rule.startswith(ADMIN_PREFIX) and not _is_public(m, r)
    ]
    if not admin_routes:
        pytest.skip("the admin has no routes in this app")
    before = table_counts(app)
    for method, rule in admin_routes:
        what = f"{method} {rule.rule} (anonymous)"
        response = client.open(_url(rule), method=method)
        if response.status_code in (301, 302, 303, 307, 308):
            assert LOGIN_PATH in response.headers["Location"], (what, response.headers["Location"])
        else:
            assert response.status_code in (401, 403), (what, response.status_code)
    assert table_counts(app) == before


def test_api_keys_never_reach_the_logs(app, client, callers, caplog, capfd) -> None:
    caplog.set_level(logging.DEBUG)
    agent, intake = callers[Scope.AGENT.value], callers[Scope.INTAKE.value]
    body = {"subject": "Senha não funciona", "description": "Não consigo entrar no sistema."}
    client.post("/api/v1/tickets", json=body, headers={"X-API-Key": intake})
    client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {agent}"})
    client.get("/api/v1/tickets", headers={"X-API-Key": intake})  # wrong scope: 403
    client.get("/api/v1/tickets", headers={"X-API-Key": callers["revoked"]})  # 401
    client.get("/api/v1/tickets", headers={"X-API-Key": agent + "x"})  # unknown: 401
    client.post(
        "/api/v1/tickets",
        data=b"{",
        headers={"X-API-Key": intake, "Content-Type": "application/json"},
    )
    client.get("/api/v1/tickets/999999", headers={"X-API-Key": agent})  # 404
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    out, err = capfd.readouterr()
    for key in (agent, intake, callers["revoked"]):
        for text, where in ((logged, "log records"), (out, "stdout"), (err, "stderr")):
            assert key not in text, f"an API key appears in the {where}"
            assert key[4:] not in text, f"the secret part of an API key appears in the {where}"


def test_api_responses_never_contain_keys(app, client, callers, active_model) -> None:
    agent = callers[Scope.AGENT.value]
    secrets = {k: hash_key(k) for k in callers.values()}
    body = {"subject": "Cobrança duplicada", "description": "Fui cobrado duas vezes este mês."}
    responses = [
        client.post("/api/v1/tickets", json=body, headers={"X-API-Key": agent}),
        client.post("/api/v1/triage", json=body, headers={"X-API-Key": agent}),
    ]
    # Every GET of the API, with a key that may read it.
    for method, rule in _routes(app):
        if method != "GET" or not rule.rule.startswith("/api/"):
            continue
        scopes = _declared_scopes(app, rule) or (Scope.DATA_STAFF,)
        key = agent if Scope.AGENT in scopes else callers[scopes[0].value]
        responses.append(client.get(_url(rule), headers={"X-API-Key": key}))
    assert responses[0].status_code == 201
    assert any(r.status_code == 200 and b"events" in r.data for r in responses)
    for response in responses:
        text = response.get_data(as_text=True)
        for plain, hashed in secrets.items():
            assert plain not in text and plain[4:] not in text
            assert hashed not in text
