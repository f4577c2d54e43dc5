"""`triage sla sweep`: mark due tickets at risk or breached, escalate breaches; cron-safe."""

from __future__ import annotations

import json
from datetime import datetime

import click
from flask.cli import with_appcontext

from triage import db
from triage.catalog import load_catalog
from triage.sweep import DEFAULT_BATCH_SIZE, SweepReport, sweep
from triage.tables import utcnow

_LINES = (
    ("at_risk", "marked at risk"),
    ("breached", "marked breached"),
    ("events", "events recorded"),
    ("priority_raised", "priority raised"),
    ("raise_skipped_human", "not raised: priority set by an agent"),
    ("raise_at_top", "not raised: already the most urgent"),
    ("requeued", "moved to the escalation queue"),
    ("webhooks_sent", "webhooks sent"),
    ("webhooks_failed", "webhooks failed"),
    ("escalation_errors", "escalation errors"),
)


def _parse_now(value: str | None) -> datetime:
    if value is None:
        return utcnow()
    try:
        now = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time", param_hint="--now") from None
    if now.tzinfo is None:
        raise click.BadParameter(
            "give a UTC offset, e.g. 2026-03-02T12:00:00Z or -03:00", param_hint="--now"
        )
    return now


@click.group("sla")
def sla_group() -> None:
    """SLA clocks: the sweep that marks tickets at risk or breached."""


@sla_group.command("sweep")
@click.option("--now", "now_text", default=None, help="Sweep as of this ISO 8601 time.")
@click.option("--batch-size", default=DEFAULT_BATCH_SIZE, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@with_appcontext
def sweep_command(now_text: str | None, batch_size: int, as_json: bool) -> None:
    """Mark due tickets at risk or breached and escalate the breaches.

    Works in short transactions of --batch-size tickets, so it is safe to run from cron while the
    service runs; a second run at the same --now changes nothing.
    """
    if batch_size < 1:
        raise click.BadParameter("must be at least 1", param_hint="--batch-size")
    now = _parse_now(now_text)
    with db.fresh_session() as s:
        catalog = load_catalog(s, now)

        def progress(report: SweepReport) -> None:
            if not as_json and report.batches % 10 == 0:
                click.echo(
                    f"  ... {report.at_risk + report.breached} tickets changed "
                    f"({report.batches} batches)",
                    err=True,
                )

        report = sweep(s, catalog, now, batch_size=batch_size, progress=progress)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    click.echo(f"SLA sweep as of {report.as_dict()['now']} in {report.seconds:.2f} s")
    for key, label in _LINES:
        click.echo(f"  {label:<38} {getattr(report, key):>8}")
    for problem in report.problems:
        click.echo(f"  problem: {problem}", err=True)


COMMANDS = [sla_group]
