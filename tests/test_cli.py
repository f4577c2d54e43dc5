"""The `triage` command as an admin uses it."""

from __future__ import annotations

import re
import socket

from sqlalchemy import select

from triage import db
from triage.auth import hash_key
from triage.cli import ensure_port_free
from triage.tables import ApiKey, User


def test_create_user_and_key_then_use_the_key(app, runner, client, active_model):
    result = runner.invoke(
        args=[
            "create-user",
            "--email",
            "Bia@Example.com",
            "--role",
            "agent",
            "--password",
            "uma senha longa",
        ]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        args=["create-api-key", "--name", "bia", "--scope", "agent", "--user", "bia@example.com"]
    )
    assert result.exit_code == 0, result.output
    key = re.search(r"(trg_\S+)", result.output).group(1)
    with app.app_context():
        row = db.session().scalar(select(ApiKey).where(ApiKey.name == "bia"))
        assert row.key_hash == hash_key(key)
        assert key not in (row.key_hash, row.prefix)
        assert row.user.email == "bia@example.com"
    response = client.get("/api/v1/tickets", headers={"X-API-Key": key})
    assert response.status_code == 200


def test_create_user_refuses_short_passwords_and_duplicates(runner):
    short = runner.invoke(
        args=["create-user", "--email", "x@example.com", "--role", "agent", "--password", "short"]
    )
    assert short.exit_code != 0
    assert "10 characters" in short.output
    ok = runner.invoke(
        args=[
            "create-user",
            "--email",
            "x@example.com",
            "--role",
            "admin",
            "--password",
            "long enough pw",
        ]
    )
    assert ok.exit_code == 0
    again = runner.invoke(
        args=[
            "create-user",
            "--email",
            "x@example.com",
            "--role",
            "admin",
            "--password",
            "long enough pw",
        ]
    )
    assert again.exit_code != 0
    assert "exists already" in again.output


def test_revoking_an_unknown_key_fails_clearly(runner):
    result = runner.invoke(args=["revoke-api-key", "4242"])
    assert result.exit_code != 0
    assert "no API key 4242" in result.output


def test_setup_prints_credentials_once(app, runner, tiny_version, monkeypatch):
    # The tiny model is active, so setup does not train; it must create the admin and keys once.
    from triage import versions

    monkeypatch.setattr(versions, "ensure_demo_model", lambda s, echo: None)
    first = runner.invoke(args=["setup"])
    assert first.exit_code == 0, first.output
    assert "admin login" in first.output
    keys = re.findall(r"(trg_\S+)", first.output)
    assert len(keys) == 2
    second = runner.invoke(args=["setup"])
    assert second.exit_code == 0
    assert "trg_" not in second.output
    with app.app_context():
        s = db.session()
        assert s.scalar(select(User.role).where(User.email == "admin@example.com")).value == "admin"
        stored = set(s.scalars(select(ApiKey.key_hash)))
        assert {hash_key(k) for k in keys} <= stored


def test_serve_refuses_a_port_another_server_listens_on(runner):
    """Workers bind with SO_REUSEPORT; a second server must not quietly share the port."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = runner.invoke(args=["serve", "--bind", f"127.0.0.1:{port}"])
        assert result.exit_code != 0
        assert f"cannot serve on 127.0.0.1:{port}" in result.output
    ensure_port_free(f"127.0.0.1:{port}")  # free again once the other server is gone
