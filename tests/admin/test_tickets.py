"""Tickets in the admin: escaped text, the decision, corrections and bulk changes as events."""

from __future__ import annotations

import csv
import io

from tests.admin.conftest import csrf_token, logged_in, make_ticket

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_ticket_text_is_escaped(app, client, active_model):
    ticket_id = make_ticket(app, subject=XSS, description=XSS)
    logged_in(client, "agent")
    for url in ("/admin/tickets/", f"/admin/tickets/{ticket_id}/", "/admin/tickets/?q=script"):
        page = client.get(url).get_data(as_text=True)
        assert '<script>alert("x")' not in page and "<img src=x" not in page, url
        assert "&lt;script&gt;alert(" in page, url


def test_detail_shows_the_decision_and_the_sla_clock(app, client, active_model):
    ticket_id = make_ticket(
        app,
        subject="Sistema fora do ar",
        description="Ninguém da equipe consegue acessar o painel.",
    )
    logged_in(client, "agent")
    page = client.get(f"/admin/tickets/{ticket_id}/").get_data(as_text=True)
    assert f"model:{active_model}" in page  # the model's source and version
    assert "<progress" in page  # probabilities per class
    assert "Rules fired" in page and "SLA clock" in page and "Resolution due" in page


def test_list_filters_and_search(app, client):
    first = make_ticket(
        app, subject="Cobrança em duplicidade", description="Fui cobrado duas vezes."
    )
    second = make_ticket(app, subject="Dúvida sobre relatório", description="Como exporto?")
    logged_in(client, "agent")
    page = client.get("/admin/tickets/?q=duplicidade").get_data(as_text=True)
    assert f"/admin/tickets/{first}/" in page and f"/admin/tickets/{second}/" not in page
    page = client.get("/admin/tickets/?status=closed").get_data(as_text=True)
    assert f"/admin/tickets/{first}/" not in page
    page = client.get("/admin/tickets/?sort=due&needs_review=no&human_set=no&count=1")
    assert page.status_code == 200


def test_csv_export_neutralises_formulas(app, client):
    make_ticket(
        app, subject='=HYPERLINK("http://evil","x")', description="d", requester="+cmd@example.com"
    )
    make_ticket(app, subject="@SUM(A1)", description="d")
    logged_in(client, "agent")
    response = client.get("/admin/tickets/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    subjects = {r["subject"] for r in rows}
    assert '\'=HYPERLINK("http://evil","x")' in subjects and "'@SUM(A1)" in subjects
    assert "'+cmd@example.com" in {r["requester"] for r in rows}


def test_admin_correction_is_the_same_event_as_an_api_patch(app, client, keys):
    ticket_id = make_ticket(app)
    other_id = make_ticket(app)
    # The API PATCH by an agent's key...
    api = client.patch(
        f"/api/v1/tickets/{other_id}",
        headers=keys.header(keys.agent),
        json={"priority": "urgent", "reason": "whole office"},
    )
    assert api.status_code == 200
    # ...and the same correction through the admin form.
    user = logged_in(client, "agent")
    url = f"/admin/tickets/{ticket_id}/"
    before = client.get(f"/api/v1/tickets/{ticket_id}", headers=keys.header(keys.agent)).json
    response = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "priority": "urgent",
            "category": before["category"] or "",
            "queue": before["queue"]["name"],
            "status": before["status"],
            "assignee_id": "",
            "reason": "whole office",
        },
    )
    assert response.status_code == 302
    shown = client.get(f"/api/v1/tickets/{ticket_id}", headers=keys.header(keys.agent)).json
    via_api = client.get(f"/api/v1/tickets/{other_id}", headers=keys.header(keys.agent)).json
    assert shown["priority"] == "urgent" and shown["priority_human_set"]
    admin_event = [e for e in shown["events"] if e["is_correction"]]
    api_event = [e for e in via_api["events"] if e["is_correction"]]
    assert len(admin_event) == len(api_event) == 1
    a, b = admin_event[0], api_event[0]
    assert a["actor"] == f"user:{user.id}" and a["source"] == f"agent:{user.id}"
    assert b["actor"] == f"user:{keys.agent_user_id}"
    for name in ("field", "old_value", "new_value", "reason", "is_correction"):
        assert a[name] == b[name], name


def test_an_invalid_correction_is_a_form_error_not_a_500(app, client):
    ticket_id = make_ticket(app)
    logged_in(client, "agent")
    url = f"/admin/tickets/{ticket_id}/"
    page = client.get(url).get_data(as_text=True)
    assert "correction-form" in page
    response = client.post(
        url, data={"csrf_token": csrf_token(client, url), "priority": "nope", "reason": "x"}
    )
    assert response.status_code == 400


def test_bulk_change_queue_and_assign_record_events(app, client, keys):
    ids = [make_ticket(app), make_ticket(app)]
    user = logged_in(client, "agent")
    token = csrf_token(client, "/admin/tickets/")
    response = client.post(
        "/admin/tickets/bulk",
        data={
            "csrf_token": token,
            "ids": [str(i) for i in ids],
            "action": "queue",
            "queue": "billing",
            "assignee_id": "",
            "reason": "billing backlog",
        },
    )
    assert response.status_code == 302
    response = client.post(
        "/admin/tickets/bulk",
        data={
            "csrf_token": token,
            "ids": [str(i) for i in ids],
            "action": "assign",
            "queue": "billing",
            "assignee_id": str(user.id),
            "reason": "mine",
        },
    )
    assert response.status_code == 302
    for ticket_id in ids:
        t = client.get(f"/api/v1/tickets/{ticket_id}", headers=keys.header(keys.agent)).json
        assert t["queue"]["name"] == "billing" and t["assignee_id"] == user.id
        fields = {
            (e["field"], e["new_value"], e["reason"])
            for e in t["events"]
            if e["actor"] == f"user:{user.id}"
        }
        assert ("queue", "billing", "billing backlog") in fields
        assert ("assignee", str(user.id), "mine") in fields
