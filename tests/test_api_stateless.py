"""The API keeps no cookie session and sees configuration changes; the admin keeps its session."""

from __future__ import annotations

from sqlalchemy import update

from tests.admin.conftest import logged_in
from tests.test_api import QUESTION
from triage import db
from triage.tables import Queue


def test_an_admin_browser_calling_the_api_gets_no_cookie_and_stays_logged_in(client, keys):
    logged_in(client, "admin")
    response = client.post("/api/v1/triage", json=QUESTION, headers=keys.header(keys.intake))
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "Content-Security-Policy" not in response.headers  # admin headers stay on admin pages
    # The session cookie alone is no API credential.
    assert client.post("/api/v1/triage", json=QUESTION).status_code == 401

    page = client.get("/admin/", follow_redirects=True)
    assert page.status_code == 200
    assert page.request.path != "/admin/login"  # still logged in
    assert "Content-Security-Policy" in page.headers


def test_a_changed_queue_title_shows_in_the_next_decision(app, client, keys):
    def decide() -> dict:
        response = client.post("/api/v1/triage", json=QUESTION, headers=keys.header(keys.intake))
        assert response.status_code == 200
        return response.get_json()["queue"]

    queue = decide()
    with app.app_context():
        s = db.session()
        s.execute(update(Queue).where(Queue.name == queue["name"]).values(title="Renamed queue"))
        s.commit()
    assert decide() == {**queue, "title": "Renamed queue"}
