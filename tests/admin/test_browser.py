"""The admin in a real headless Chromium against a live server: menus and refusals per role, a
correction seen in the history and the API, a rule changing a preview, a model activated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.admin.browser_support import LiveServer, browser, log_in, screenshots, shoot
from tests.admin.conftest import PASSWORD, add_user, make_ticket
from triage import db, model_store
from triage.tables import Impact, Role, Urgency

__all__ = ["browser", "screenshots"]  # fixtures used by name

pytestmark = pytest.mark.slow

# Menu entries each role must see, and pages (with the status the server gives) it must not.
MENUS = {
    Role.ADMIN: ["Dashboard", "Tickets", "Models", "Configuration", "Access"],
    Role.AGENT: ["Dashboard", "Tickets"],
    Role.DATA_STAFF: ["Dashboard", "Tickets", "Models"],
}
HIDDEN = {
    Role.ADMIN: [],
    Role.AGENT: ["Models", "Configuration", "Access"],
    Role.DATA_STAFF: ["Configuration", "Access"],
}
REFUSED = {
    Role.ADMIN: [],
    Role.AGENT: [
        "/admin/models/",
        "/admin/jobs/",
        "/admin/rules/",
        "/admin/api-keys/",
        "/admin/models/rollback",
    ],
    Role.DATA_STAFF: ["/admin/rules/", "/admin/api-keys/", "/admin/rules/edit/"],
}


@pytest.fixture
def live(app) -> Iterator[LiveServer]:
    server = LiveServer(app)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(browser) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    try:
        yield context.new_page()
    finally:
        context.close()


def seed_tickets(app) -> list[int]:
    return [
        make_ticket(
            app,
            "Sistema fora do ar",
            "Ninguém da equipe consegue acessar o painel.",
            impact=Impact.DEPARTMENT,
            stated_urgency=Urgency.CRITICAL,
        ),
        make_ticket(app, "Cobrança em duplicidade", "Fui cobrado duas vezes no cartão este mês."),
        make_ticket(app, "How do I export a report?", "How can I export the monthly report?"),
        make_ticket(app, "Typo on the pricing page", "There is a small typo on the pricing page."),
    ]


def menu_text(page) -> str:
    return page.inner_text("nav")


@pytest.mark.parametrize("role", [Role.ADMIN, Role.AGENT, Role.DATA_STAFF], ids=str)
def test_each_role_sees_its_menus_and_is_refused_the_others(
    app, active_model, live, page, screenshots: Path, role: Role
):
    seed_tickets(app)
    user = add_user(app, role)
    page.goto(live.url + "/admin/models/")
    assert "/admin/login" in page.url  # anonymous: sent to the login page by the server
    log_in(page, live.url, user.email, PASSWORD)
    page.goto(live.url + "/admin/dashboard/")
    menu = menu_text(page)
    for entry in MENUS[role]:
        assert entry in menu, (role, entry)
    for entry in HIDDEN[role]:
        assert entry not in menu, (role, entry)
    assert "SLA compliance" in page.inner_text("body")
    shoot(page, screenshots, f"dashboard-{role.value}")
    for url in REFUSED[role]:
        response = page.goto(live.url + url)
        assert response.status == 403, (role, url, response.status)


def test_agent_corrects_priority_and_sees_it_in_history_and_api(
    app, active_model, keys, live, page, screenshots: Path
):
    ticket_id = seed_tickets(app)[2]
    status, before = live.api("GET", f"/api/v1/tickets/{ticket_id}", keys.agent)
    assert status == 200
    new_priority = "urgent" if before["priority"] != "urgent" else "low"
    log_in(page, live.url, "agent@example.com", "correct horse battery")
    page.goto(live.url + "/admin/tickets/")
    shoot(page, screenshots, "ticket-list")
    page.goto(f"{live.url}/admin/tickets/{ticket_id}/")
    page.select_option("#correction-form select[name=priority]", new_priority)
    page.fill("#correction-form [name=reason]", "Cliente VIP com a operação parada")
    page.click("#correction-form button[type=submit]")
    page.wait_for_load_state()
    history = page.inner_text("#history")
    assert f"{before['priority']} → {new_priority}" in history
    assert "Cliente VIP com a operação parada" in history
    shoot(page, screenshots, "ticket-detail")
    status, after = live.api("GET", f"/api/v1/tickets/{ticket_id}", keys.agent)
    assert status == 200 and after["priority"] == new_priority
    events = [
        e for e in after["events"] if e["field"] == "priority" and e["new_value"] == new_priority
    ]
    assert events and events[-1]["old_value"] == before["priority"]
    assert events[-1]["reason"] == "Cliente VIP com a operação parada"


def test_admin_creates_a_rule_and_the_preview_changes(
    app, active_model, keys, live, page, screenshots: Path
):
    body = {
        "subject": "Catraca travada na portaria",
        "description": "A catraca da entrada travou de novo hoje cedo.",
    }
    status, before = live.api("POST", "/api/v1/triage", keys.intake, body)
    assert status == 200
    assert before["priority"]["value"] != "urgent"
    admin = add_user(app, Role.ADMIN)
    log_in(page, live.url, admin.email, PASSWORD)
    page.goto(live.url + "/admin/rules/edit/")
    page.fill(
        "textarea[name=spec]",
        (
            "name: turnstile-stuck\n"
            "description: A stuck turnstile blocks the whole building\n"
            "position: 5\n"
            "conditions:\n"
            '  keywords_any: ["catraca travada"]\n'
            "actions:\n"
            "  set_priority: urgent\n"
        ),
    )
    page.click("button[name=action][value=save]")
    page.wait_for_load_state()
    page.goto(live.url + "/admin/rules/")
    assert "turnstile-stuck" in page.inner_text("body")
    shoot(page, screenshots, "rules")
    status, after = live.api("POST", "/api/v1/triage", keys.intake, body)
    assert status == 200
    assert after["priority"]["value"] == "urgent"
    assert after["priority"]["source"] == "rule:turnstile-stuck"


def test_data_staff_activates_a_model_version(app, tiny_version, live, page, screenshots: Path):
    from triage.versions import register_version

    with app.app_context():
        s = db.session()
        manifest = model_store.load_version(Path(app.config["MODELS_DIR"]), tiny_version).manifest
        register_version(s, manifest, actor="test")
        s.commit()
    seed_tickets(app)
    staff = add_user(app, Role.DATA_STAFF)
    log_in(page, live.url, staff.email, PASSWORD)
    page.goto(live.url + "/admin/models/")
    shoot(page, screenshots, "model-versions")
    page.click(f"a:text('{tiny_version}')")
    page.click("a:text('Activate')")
    page.click("form.confirm-form button[type=submit]")  # not confirmed: the form stays
    assert page.url.endswith(f"/admin/models/{tiny_version}/activate")
    page.fill("form.confirm-form [name=reason]", "first model for this site")
    page.check("form.confirm-form [name=confirm]")
    page.click("form.confirm-form button[type=submit]")
    page.wait_for_load_state()
    assert page.url.endswith(f"/admin/models/{tiny_version}")
    assert page.inner_text(".model-status") == "active"
    shoot(page, screenshots, "model-version-detail")
    response = page.goto(live.url + "/api/v1/ready")
    assert tiny_version in response.text()
