"""`triage rules ...` and `triage matrix ...`: configuration kept in version control as files."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml
from flask import current_app
from flask.cli import with_appcontext
from pydantic import ValidationError

from triage import db, intake
from triage.rules import RuleError, export_rules, import_rules
from triage.rules_store import current_rules, replace_rules, set_matrix
from triage.schemas import TicketInput
from triage.tables import Setting, utcnow

FORMATS = click.Choice(["yaml", "json"])


def _format_of(path: Path | None, fmt: str | None) -> str:
    if fmt:
        return fmt
    return "json" if path is not None and path.suffix.lower() == ".json" else "yaml"


@click.group("rules")
def rules_group() -> None:
    """Automation rules: export, import (validated), and try a ticket against them."""


@rules_group.command("export")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--format", "fmt", type=FORMATS, default=None)
@with_appcontext
def rules_export(out: Path | None, fmt: str | None) -> None:
    """Print (or write to --out) the rules in evaluation order."""
    text = export_rules(current_rules(db.session()), _format_of(out, fmt))  # type: ignore[arg-type]
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)


@rules_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=FORMATS, default=None)
@with_appcontext
def rules_import(path: Path, fmt: str | None) -> None:
    """Replace all rules with the file's, each validated first; if one is invalid, none change."""
    s = db.session()
    try:
        specs = import_rules(path.read_text(encoding="utf-8"), _format_of(path, fmt))  # type: ignore[arg-type]
        count = replace_rules(s, specs)
    except RuleError as exc:
        s.rollback()
        raise click.ClickException(f"rules not imported: {exc}") from exc
    s.commit()
    click.echo(f"imported {count} rules")


@rules_group.command("test")
@click.option("--subject", required=True)
@click.option("--description", required=True)
@click.option("--customer", default=None)
@click.option("--tier", default=None)
@click.option("--channel", default="api", show_default=True)
@click.option("--urgency", "stated_urgency", default=None)
@click.option("--impact", default=None)
@with_appcontext
def rules_test(**fields) -> None:
    """Show the decision (model, matrix, rules, SLA) a ticket would get; stores nothing."""
    try:
        data = TicketInput.model_validate(
            {k: v for k, v in fields.items() if v is not None}, strict=False
        )
    except ValidationError as exc:
        raise click.BadParameter(str(exc)) from exc
    state = current_app.extensions["triage"]
    s = db.session()
    now = utcnow()
    ctx = intake.Context(
        catalog=state.catalog.get(s, now),
        models=state.models.current(s),
        thresholds=state.thresholds,
        now=now,
    )
    click.echo(intake.preview(s, data, ctx).model_dump_json(indent=2))


@click.group("matrix")
def matrix_group() -> None:
    """The impact x urgency priority matrix."""


@matrix_group.command("export")
@with_appcontext
def matrix_export() -> None:
    """Print the priority matrix as YAML."""
    row = db.session().get(Setting, "priority_matrix")
    click.echo(yaml.safe_dump(row.value if row else {}, sort_keys=False), nl=False)


@matrix_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def matrix_import(path: Path) -> None:
    """Replace the priority matrix with the file's (YAML or JSON), after validating it."""
    text = path.read_text(encoding="utf-8")
    s = db.session()
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        set_matrix(s, data)
    except (ValidationError, ValueError, yaml.YAMLError) as exc:
        s.rollback()
        raise click.ClickException(f"matrix not imported: {exc}") from exc
    s.commit()
    click.echo("priority matrix replaced")


COMMANDS = [rules_group, matrix_group]
