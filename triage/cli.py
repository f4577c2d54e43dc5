"""The `triage` command: thin wrappers over the domain modules for offline and admin work."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import func, select

from triage import create_app, db
from triage.auth import create_api_key, create_user, revoke_api_key
from triage.migrations import upgrade
from triage.seed import seed_defaults
from triage.tables import ApiKey, Role, Scope, User, utcnow


@click.group(cls=FlaskGroup, create_app=create_app, add_version_option=False)
def main() -> None:
    """triage: ML-assisted support ticket triage."""


@click.command("migrate")
@with_appcontext
def migrate_command() -> None:
    """Create or upgrade the database schema."""
    upgrade(db.engine())
    click.echo("database schema is up to date")


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create or upgrade the schema and add the default configuration that is missing."""
    upgrade(db.engine())
    s = db.session()
    added = seed_defaults(s)
    s.commit()
    click.echo(f"database ready; added {len(added)} defaults" if added else "database ready")


@click.command("create-user")
@click.option("--email", required=True)
@click.option("--name", default=None)
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--password", default=None, help="Prompted for when not given.")
@with_appcontext
def create_user_command(email: str, name: str | None, role: str, password: str | None) -> None:
    """Create a user who can log in to the admin."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    s = db.session()
    if s.scalar(select(User.id).where(User.email == email.strip().lower())) is not None:
        raise click.ClickException(f"a user {email} exists already")
    try:
        user = create_user(
            s, email=email, name=name or email.split("@")[0], password=password, role=Role(role)
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    s.commit()
    click.echo(f"user {user.id} {user.email} ({user.role.value}) created")


@click.command("create-api-key")
@click.option("--name", required=True, help="Who or what uses the key, e.g. 'web form'.")
@click.option("--scope", type=click.Choice([sc.value for sc in Scope]), required=True)
@click.option("--user", "user_email", default=None, help="The user the key acts for (agents).")
@with_appcontext
def create_api_key_command(name: str, scope: str, user_email: str | None) -> None:
    """Create an API key and print it once; only its hash is stored."""
    s = db.session()
    user = None
    if user_email:
        user = s.scalar(select(User).where(User.email == user_email.strip().lower()))
        if user is None:
            raise click.ClickException(f"no user {user_email}")
    row, plain = create_api_key(s, name=name, scope=Scope(scope), user=user)
    s.commit()
    click.echo(f"API key {row.id} ({row.scope.value}) for {row.name}: {plain}")
    click.echo("Keep it now: it is not stored and cannot be shown again.", err=True)


@click.command("revoke-api-key")
@click.argument("key_id", type=int)
@with_appcontext
def revoke_api_key_command(key_id: int) -> None:
    """Revoke an API key by its id; every worker refuses it within CATALOG_TTL_SECONDS."""
    s = db.session()
    row = revoke_api_key(s, key_id, now=utcnow())
    if row is None:
        raise click.ClickException(f"no API key {key_id}")
    s.commit()
    ttl = current_app.config["CATALOG_TTL_SECONDS"]
    click.echo(f"API key {row.id} ({row.name}) revoked; every worker refuses it within {ttl} s")


@click.command("list-api-keys")
@with_appcontext
def list_api_keys_command() -> None:
    """List API keys (prefix only; keys themselves are never shown again)."""
    for row in db.session().scalars(select(ApiKey).order_by(ApiKey.id)):
        state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
        click.echo(f"{row.id:>4}  {row.prefix}…  {row.scope.value:<10}  {state:<22}  {row.name}")


@click.command("setup")
@click.option("--admin-email", default="admin@example.com", show_default=True)
@with_appcontext
def setup_command(admin_email: str) -> None:
    """First run: schema, defaults, the demo model if none is active, an admin and an intake key."""
    from triage.config import ensure_secret_key
    from triage.versions import ensure_demo_model

    if ensure_secret_key(current_app.instance_path):
        click.echo(f"wrote a random SECRET_KEY to {current_app.instance_path}/config.py")
    upgrade(db.engine())
    s = db.session()
    added = seed_defaults(s)
    s.commit()
    if added:
        click.echo(f"added {len(added)} default settings (queues, SLA policies, rules, ...)")
    ensure_demo_model(s, echo=click.echo)
    if s.scalar(select(func.count(User.id))) == 0:
        password = secrets.token_urlsafe(12)
        admin = create_user(s, email=admin_email, name="Admin", password=password, role=Role.ADMIN)
        _, key = create_api_key(s, name="intake (created by setup)", scope=Scope.INTAKE)
        _, agent_key = create_api_key(
            s, name="agent (created by setup)", scope=Scope.AGENT, user=admin
        )
        s.commit()
        click.echo("")
        click.echo("=" * 72)
        click.echo("Created once; shown once. Keep these now:")
        click.echo(f"  admin login     {admin.email} / {password}")
        click.echo(f"  intake API key  {key}")
        click.echo(f"  agent API key   {agent_key}")
        click.echo("=" * 72)


def gunicorn_worker_args(workers: int, threads: int) -> list[str]:
    """Return the worker options the service is served with (gthread workers)."""
    return [
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
    ]


def fresh_metrics_dir(env: dict[str, str], instance_path: str) -> str:
    """Point PROMETHEUS_MULTIPROC_DIR at an emptied folder (default instance/prometheus)."""
    folder = Path(env.get("PROMETHEUS_MULTIPROC_DIR") or Path(instance_path) / "prometheus")
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):  # files of a previous run's workers would add up with ours
        stale.unlink()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    return str(folder)


def ensure_port_free(bind: str) -> None:
    """Refuse to serve on a host:port another server already listens on.

    The workers listen with SO_REUSEPORT (triage/gunicorn_conf.py), which would let a second
    server bind the same port and silently take half its connections; a plain bind finds it.
    """
    host, sep, port = bind.rpartition(":")
    if not sep or bind.startswith(("unix:", "fd://")) or not port.isdigit():
        return  # a Unix socket or a file descriptor: nothing to share by port
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - gunicorn's own default for ":port"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT leftovers
        try:
            probe.bind((host, int(port)))
        except OSError as exc:
            raise click.ClickException(f"cannot serve on {bind}: {exc.strerror}") from exc


@click.command("serve")
@click.option("--bind", default="127.0.0.1:5000", show_default=True)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--threads", default=4, show_default=True, type=int)
@with_appcontext
def serve_command(bind: str, workers: int, threads: int) -> None:
    """Serve the app with gunicorn (gthread workers)."""
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or shutil.which(
        "gunicorn"
    )
    if gunicorn is None:
        raise click.ClickException("gunicorn is not installed")
    ensure_port_free(bind)
    env = dict(os.environ)
    env.setdefault("TRIAGE_INSTANCE_PATH", current_app.instance_path)
    fresh_metrics_dir(env, current_app.instance_path)
    args = [
        gunicorn,
        "--config",
        "python:triage.gunicorn_conf",
        "--bind",
        bind,
        *gunicorn_worker_args(workers, threads),
        "triage:create_app()",
    ]
    os.execve(gunicorn, args, env)  # noqa: S606 - replaces this process with the server


def register_commands(app: Flask) -> None:
    """Add every triage command to app.cli (FlaskGroup and the test runner find them there)."""
    from triage.config_cli import COMMANDS as CONFIG_COMMANDS
    from triage.jobs_cli import COMMANDS as JOB_COMMANDS
    from triage.model_cli import COMMANDS as MODEL_COMMANDS
    from triage.sla_cli import COMMANDS as SLA_COMMANDS

    for command in (*COMMANDS, *MODEL_COMMANDS, *JOB_COMMANDS, *CONFIG_COMMANDS, *SLA_COMMANDS):
        app.cli.add_command(command)


COMMANDS = [
    migrate_command,
    init_db_command,
    create_user_command,
    create_api_key_command,
    revoke_api_key_command,
    list_api_keys_command,
    setup_command,
    serve_command,
]
