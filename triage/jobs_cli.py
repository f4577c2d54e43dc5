"""`triage gate | shadow | worker | jobs`: judging candidates and running background jobs."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from triage import db, jobs
from triage.model_cli import echo_gate
from triage.tables import Job, utcnow
from triage.versions import VersionError, clear_shadow, run_gate, set_shadow


@click.command("gate")
@click.argument("version")
@with_appcontext
def gate_command(version: str) -> None:
    """Compare a version with the active ones on the frozen set plus recent corrections."""
    s = db.session()
    try:
        result = run_gate(s, version)
    except VersionError as exc:
        raise click.ClickException(str(exc)) from exc
    s.commit()
    click.echo(f"version {version}: {'passes' if result['passed'] else 'refused'}")
    echo_gate(result)


@click.command("shadow")
@click.argument("version")
@click.option("--off", is_flag=True, help="Stop the version's shadow predictions.")
@click.option("--reason", default=None)
@with_appcontext
def shadow_command(version: str, off: bool, reason: str | None) -> None:
    """Let a candidate predict beside the active models on new tickets, deciding nothing."""
    s = db.session()
    try:
        if off:
            clear_shadow(s, version, actor="cli", reason=reason)
        else:
            set_shadow(s, version, actor="cli", reason=reason)
    except VersionError as exc:
        raise click.ClickException(str(exc)) from exc
    s.commit()
    click.echo(f"version {version} {'no longer shadows' if off else 'now shadows'}")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """Run an RQ worker for training jobs (needs TRIAGE_REDIS_URL)."""
    from redis import Redis
    from rq import Queue, Worker

    url = current_app.config.get("REDIS_URL")
    if not url:
        raise click.ClickException("set TRIAGE_REDIS_URL to run a job worker")
    connection = Redis.from_url(url)
    queue = Queue(current_app.config.get("JOB_QUEUE", jobs.QUEUE_NAME), connection=connection)
    Worker([queue], connection=connection).work(burst=burst)


@click.command("jobs")
@click.option("--limit", default=20, show_default=True, type=int)
@with_appcontext
def jobs_command(limit: int) -> None:
    """List the newest background jobs with their state."""
    s = db.session()
    stale = float(current_app.config["JOB_STALE_SECONDS"])
    now = utcnow()
    for job in s.scalars(select(Job).order_by(Job.created_at.desc()).limit(limit)):
        shown = jobs.view(job, now=now, stale_seconds=stale)
        outcome = shown.error or (shown.result or {}).get("version") or shown.message or ""
        click.echo(
            f"{shown.id}  {shown.kind:<6} {shown.state:<9} {shown.progress:>4.0%}  "
            f"{shown.created_at:%Y-%m-%d %H:%M}  {outcome}"
        )


COMMANDS = [gate_command, shadow_command, worker_command, jobs_command]
