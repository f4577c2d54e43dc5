"""The admin refuses anonymous users, wrong roles and forms without CSRF; it sets headers."""

from __future__ import annotations

import re

import pytest

from tests.admin.conftest import PASSWORD, add_user, csrf_token, logged_in, make_ticket
from tests.conftest import table_counts

# Open without a login: the login page itself and the static files the login page uses.
PUBLIC_ENDPOINTS = {"admin_auth.login", "admin_auth.logout", "admin.static", "admin_auth.static"}


def admin_urls(app) -> list[tuple[str, str, str]]:
    """Every (endpoint, method, url) under /admin, with sample values for path arguments."""
    samples = {"int": "1", "default": "x", "string": "x", "path": "x"}
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        url = rule.rule
        for conv, name in re.findall(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", rule.rule):
            url = re.sub(r"<[^>]*\b" + name + ">", samples.get(conv or "default", "x"), url)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, url))
    return found


def test_every_admin_url_refuses_an_anonymous_user(app, client):
    urls = admin_urls(app)
    assert len(urls) > 10  # the list really comes from the app
    before = table_counts(app)
    for endpoint, method, url in urls:
        response = client.open(url, method=method, data={"name": "x"})
        assert response.status_code in (302, 401, 403), (endpoint, method, url)
        if response.status_code == 302:
            assert "/admin/login" in response.headers["Location"], (endpoint, url)
    assert table_counts(app) == before


def test_login_with_a_wrong_password_fails_and_a_right_one_works(app, client):
    user = add_user(app, "agent")
    token = csrf_token(client, "/admin/login")
    bad = client.post(
        "/admin/login", data={"email": user.email, "password": "nope" * 3, "csrf_token": token}
    )
    assert bad.status_code == 401
    assert client.get("/admin/tickets/").status_code == 302
    good = client.post(
        "/admin/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert good.status_code == 302
    assert client.get("/admin/tickets/").status_code == 200


def test_session_cookie_is_httponly_and_samesite(app, client):
    user = add_user(app, "agent")
    token = csrf_token(client, "/admin/login")
    response = client.post(
        "/admin/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_is_locked_after_repeated_failures(app, client):
    user = add_user(app, "agent")
    token = csrf_token(client, "/admin/login")
    for _ in range(5):
        client.post(
            "/admin/login",
            data={"email": user.email, "password": "wrong password", "csrf_token": token},
        )
    locked = client.post(
        "/admin/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert locked.status_code == 429


def test_login_without_csrf_token_is_refused(app, client):
    user = add_user(app, "admin")
    response = client.post("/admin/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/admin/tickets/").status_code == 302


def test_logout_ends_the_session(app, client):
    logged_in(client, "agent")
    token = csrf_token(client, "/admin/logout")
    assert client.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/admin/tickets/").status_code == 302


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/admin/users/"),
        ("GET", "/admin/users/new/"),
        ("GET", "/admin/api-keys/"),
        ("POST", "/admin/api-keys/"),
        ("GET", "/admin/rules/"),
        ("POST", "/admin/rules/edit/"),
        ("GET", "/admin/queues/"),
        ("GET", "/admin/sla_policies/"),
        ("GET", "/admin/calendars/"),
        ("GET", "/admin/customers/"),
    ],
)
def test_an_agent_is_refused_admin_pages(app, client, method, url):
    logged_in(client, "agent")
    before = table_counts(app)
    assert client.open(url, method=method, data={"name": "x"}).status_code == 403
    assert table_counts(app) == before


def test_data_staff_may_read_tickets_but_not_correct_them(app, client):
    ticket_id = make_ticket(app)
    logged_in(client, "data_staff")
    page = client.get(f"/admin/tickets/{ticket_id}/")
    assert page.status_code == 200 and b"correction-form" not in page.data
    token = csrf_token(client, "/admin/logout")  # a valid token of this session
    response = client.post(
        f"/admin/tickets/{ticket_id}/",
        data={"csrf_token": token, "priority": "urgent", "reason": "x"},
    )
    assert response.status_code == 403


def test_post_without_csrf_token_is_refused_and_changes_nothing(app, client):
    ticket_id = make_ticket(app)
    logged_in(client, "admin")
    before = table_counts(app)
    responses = [
        client.post(f"/admin/tickets/{ticket_id}/", data={"priority": "urgent", "reason": "x"}),
        client.post(
            "/admin/tickets/bulk",
            data={"ids": [str(ticket_id)], "action": "queue", "queue": "billing", "reason": "x"},
        ),
        client.post("/admin/api-keys/", data={"name": "x", "scope": "intake"}),
        client.post(
            "/admin/users/new/",
            data={
                "email": "x@example.com",
                "name": "x",
                "role": "admin",
                "new_password": "long enough pw",
            },
        ),
        client.post("/admin/queues/new/", data={"name": "x", "title": "X"}),
        client.post("/admin/rules/edit/", data={"spec": "name: x", "action": "save"}),
    ]
    for r in responses:
        assert r.status_code in (200, 302, 400), r.status_code  # refused or form shown again
    assert table_counts(app) == before


def test_admin_responses_carry_security_headers(app, client):
    logged_in(client, "agent")
    response = client.get("/admin/tickets/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    page = response.get_data(as_text=True)
    # Every script tag carries this response's nonce (inline scripts would be blocked otherwise).
    scripts = re.findall(r"<script[^>]*>", page)
    assert scripts and all(f'nonce="{nonce}"' in s for s in scripts)


def test_the_json_api_sets_no_cookie(client, keys):
    response = client.get("/api/v1/tickets", headers=keys.header(keys.agent))
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "Content-Security-Policy" not in response.headers


def test_an_outside_next_url_is_not_followed(app, client):
    user = add_user(app, "agent")
    token = csrf_token(client, "/admin/login")
    response = client.post(
        "/admin/login",
        data={
            "email": user.email,
            "password": PASSWORD,
            "csrf_token": token,
            "next": "https://evil.example/admin",
        },
    )
    assert response.headers["Location"].endswith("/admin/")
