"""Bad input gets a clear 4xx in the one error shape and changes nothing."""

from __future__ import annotations

import json

import pytest

from tests.conftest import table_counts

GOOD = {"subject": "Sistema fora do ar", "description": "Ninguém consegue entrar desde as 9h."}


def with_(**changes):
    body = dict(GOOD)
    for key, value in changes.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    return json.dumps(body).encode()


# (id, raw body, content type, extra headers, status, error code, field expected in "fields")
CASES = [
    ("empty body", b"", "application/json", {}, 400, "invalid_json", None),
    ("truncated json", b'{"subject": "x", ', "application/json", {}, 400, "invalid_json", None),
    ("json array", b"[]", "application/json", {}, 400, "invalid_json", None),
    ("json string", b'"hello"', "application/json", {}, 400, "invalid_json", None),
    ("json null", b"null", "application/json", {}, 400, "invalid_json", None),
    (
        "invalid utf-8",
        b'{"subject": "\xff\xfe", "description": "x"}',
        "application/json",
        {},
        400,
        "invalid_utf8",
        None,
    ),
    (
        "text/plain",
        json.dumps(GOOD).encode(),
        "text/plain",
        {},
        415,
        "unsupported_media_type",
        None,
    ),
    (
        "form encoded",
        b"subject=a&description=b",
        "application/x-www-form-urlencoded",
        {},
        415,
        "unsupported_media_type",
        None,
    ),
    (
        "missing subject",
        with_(subject=...),
        "application/json",
        {},
        422,
        "validation_error",
        "subject",
    ),
    (
        "missing description",
        with_(description=...),
        "application/json",
        {},
        422,
        "validation_error",
        "description",
    ),
    (
        "empty subject",
        with_(subject=""),
        "application/json",
        {},
        422,
        "validation_error",
        "subject",
    ),
    (
        "blank description",
        with_(description="   \n\t "),
        "application/json",
        {},
        422,
        "validation_error",
        "description",
    ),
    (
        "subject too long",
        with_(subject="a" * 301),
        "application/json",
        {},
        422,
        "validation_error",
        "subject",
    ),
    (
        "description too long",
        with_(description="palavra " * 2600),
        "application/json",
        {},
        422,
        "validation_error",
        "description",
    ),
    (
        "subject is a number",
        with_(subject=123),
        "application/json",
        {},
        422,
        "validation_error",
        "subject",
    ),
    (
        "description is null",
        with_(description=None),
        "application/json",
        {},
        422,
        "validation_error",
        "description",
    ),
    (
        "description is a bool",
        with_(description=True),
        "application/json",
        {},
        422,
        "validation_error",
        "description",
    ),
    (
        "subject is an object",
        with_(subject={"a": 1}),
        "application/json",
        {},
        422,
        "validation_error",
        "subject",
    ),
    (
        "unknown field",
        with_(priority="urgent"),
        "application/json",
        {},
        422,
        "validation_error",
        "priority",
    ),
    (
        "unknown tier",
        with_(tier="platinum"),
        "application/json",
        {},
        422,
        "validation_error",
        "tier",
    ),
    (
        "unknown channel",
        with_(channel="fax"),
        "application/json",
        {},
        422,
        "validation_error",
        "channel",
    ),
    (
        "shouted urgency",
        with_(stated_urgency="URGENT!!!"),
        "application/json",
        {},
        422,
        "validation_error",
        "stated_urgency",
    ),
    (
        "impact as number",
        with_(impact=5),
        "application/json",
        {},
        422,
        "validation_error",
        "impact",
    ),
    (
        "absurd number",
        b'{"subject": "a", "description": "b", "impact": 1e999}',
        "application/json",
        {},
        422,
        "validation_error",
        "impact",
    ),
    (
        "unknown language",
        with_(language="fr"),
        "application/json",
        {},
        422,
        "validation_error",
        "language",
    ),
    (
        "NUL byte",
        with_(description="fora do ar\u0000"),
        "application/json",
        {},
        422,
        "validation_error",
        "description",
    ),
    (
        "control character",
        with_(subject="bell\u0007"),
        "application/json",
        {},
        422,
        "validation_error",
        "subject",
    ),
    (
        "customer too long",
        with_(customer="c" * 201),
        "application/json",
        {},
        422,
        "validation_error",
        "customer",
    ),
    (
        "requester is a list",
        with_(requester=["a@b.c"]),
        "application/json",
        {},
        422,
        "validation_error",
        "requester",
    ),
    (
        "deeply nested json",
        b'{"subject": ' + b"[" * 3000 + b"]" * 3000 + b', "description": "x"}',
        "application/json",
        {},
        400,
        "invalid_json",
        None,
    ),
    (
        "body too large",
        with_(description="x" * 70_000),
        "application/json",
        {},
        413,
        "request_entity_too_large",
        None,
    ),
    (
        "idempotency key too long",
        json.dumps(GOOD).encode(),
        "application/json",
        {"Idempotency-Key": "k" * 201},
        422,
        "validation_error",
        "Idempotency-Key",
    ),
    (
        "idempotency key with spaces",
        json.dumps(GOOD).encode(),
        "application/json",
        {"Idempotency-Key": "two words"},
        422,
        "validation_error",
        "Idempotency-Key",
    ),
]


@pytest.mark.parametrize(
    ("raw", "content_type", "headers", "status", "code", "field"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_ticket_input_is_refused_and_nothing_is_stored(
    app, client, keys, active_model, raw, content_type, headers, status, code, field
):
    before = table_counts(app)
    response = client.post(
        "/api/v1/tickets",
        data=raw,
        content_type=content_type,
        headers={**keys.header(keys.intake), **headers},
    )
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error", "message", "fields"}
    assert body["error"] == code
    assert body["message"]
    if field is not None:
        assert any(key == field or key.startswith(field + ".") for key in body["fields"]), body
    assert table_counts(app) == before


@pytest.mark.parametrize(
    ("raw", "status", "field"),
    [
        (with_(tier="gold"), 422, "tier"),
        (b"{", 400, None),
        (with_(subject=""), 422, "subject"),
    ],
)
def test_bad_preview_input_is_refused(app, client, keys, active_model, raw, status, field):
    response = client.post(
        "/api/v1/triage",
        data=raw,
        content_type="application/json",
        headers=keys.header(keys.intake),
    )
    assert response.status_code == status
    body = response.get_json()
    assert set(body) == {"error", "message", "fields"}
    if field:
        assert field in body["fields"]


def _make_ticket(client, keys) -> dict:
    response = client.post("/api/v1/tickets", json=GOOD, headers=keys.header(keys.intake))
    assert response.status_code == 201
    return response.get_json()


PATCH_CASES = [
    ("unknown priority", {"priority": "p0", "reason": "x"}, 422, "priority"),
    ("unknown category", {"category": "weather", "reason": "x"}, 422, "category"),
    ("unknown queue", {"queue": "nowhere", "reason": "x"}, 422, "queue"),
    ("no reason", {"priority": "low"}, 422, "reason"),
    ("blank reason", {"priority": "low", "reason": "  "}, 422, "reason"),
    ("nothing to change", {"reason": "just because"}, 422, "body"),
    ("null status", {"status": None, "reason": "x"}, 422, "status"),
    ("unknown status", {"status": "archived", "reason": "x"}, 422, "status"),
    ("no such assignee", {"assignee_id": 999999, "reason": "x"}, 422, "assignee_id"),
    ("assignee as string", {"assignee_id": "1", "reason": "x"}, 422, "assignee_id"),
    ("unknown field", {"priority": "low", "reason": "x", "sla": "none"}, 422, "sla"),
]


@pytest.mark.parametrize(
    ("body", "status", "field"), [c[1:] for c in PATCH_CASES], ids=[c[0] for c in PATCH_CASES]
)
def test_bad_patch_is_refused_and_changes_nothing(
    app, client, keys, active_model, body, status, field
):
    ticket = _make_ticket(client, keys)
    before = table_counts(app)
    response = client.patch(
        f"/api/v1/tickets/{ticket['id']}", json=body, headers=keys.header(keys.agent)
    )
    assert response.status_code == status, response.get_json()
    assert field in response.get_json()["fields"]
    assert table_counts(app) == before
    after = client.get(f"/api/v1/tickets/{ticket['id']}", headers=keys.header(keys.agent))
    assert after.get_json()["priority"] == ticket["priority"]
    assert len(after.get_json()["events"]) == len(ticket["events"])


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=201",
        "limit=abc",
        "cursor=xyz",
        "status=archived",
        "sla_state=late",
        "needs_review=maybe",
        "colour=blue",
        "status=new&status=open",
        "assignee_id=-3",
    ],
)
def test_bad_list_query_is_refused(client, keys, query):
    response = client.get(f"/api/v1/tickets?{query}", headers=keys.header(keys.agent))
    assert response.status_code == 422
    assert response.get_json()["error"] == "validation_error"


def test_unknown_route_and_method_get_json_errors(client, keys):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    response = client.delete("/api/v1/tickets", headers=keys.header(keys.agent))
    assert response.status_code == 405
    assert response.get_json()["error"] == "method_not_allowed"
    response = client.get("/api/v1/tickets/99999", headers=keys.header(keys.agent))
    assert response.status_code == 404
    assert set(response.get_json()) == {"error", "message", "fields"}
