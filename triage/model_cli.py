"""`triage train | evaluate | predict | activate | rollback | models`: model work from the shell."""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Callable
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from tqdm import tqdm

from triage import db, model_store, training
from triage.classifier import predict_proba_labels
from triage.serving import active_versions
from triage.tables import ModelVersion
from triage.versions import (
    VersionError,
    activate,
    models_dir,
    parent_version,
    rollback,
    train_and_register,
    train_from_feedback,
)


def _columns(value: str | None) -> tuple[str, ...]:
    return tuple(c.strip() for c in value.split(",") if c.strip()) if value else ()


def data_options(fn: Callable, *, data_required: bool = True) -> Callable:
    """Add the options that say which CSV columns hold the text and the labels."""
    fn = click.option(
        "--context-columns",
        default="",
        show_default=True,
        help="Comma-separated columns used as context (tier, channel, ...).",
    )(fn)
    fn = click.option("--category-column", default=None, help="Column with the category label.")(fn)
    fn = click.option("--priority-column", default=None, help="Column with the priority label.")(fn)
    fn = click.option(
        "--text-columns",
        default="subject,description",
        show_default=True,
        help="Comma-separated text columns, in order.",
    )(fn)
    fn = click.option(
        "--data",
        "data_path",
        required=data_required,
        type=click.Path(dir_okay=False, path_type=Path),
        help="CSV export to train on." if not data_required else None,
    )(fn)
    return fn


def _load(
    data_path: Path,
    text_columns: str,
    priority_column: str | None,
    category_column: str | None,
    context_columns: str,
    **kwargs,
) -> training.TrainingData:
    try:
        return training.load_csv(
            data_path,
            text_columns=_columns(text_columns),
            priority_column=priority_column,
            category_column=category_column,
            context_columns=_columns(context_columns),
            **kwargs,
        )
    except training.TrainingDataError as exc:
        raise click.ClickException(str(exc)) from exc


class _Progress:
    """Shows training progress as a bar on the terminal."""

    def __init__(self) -> None:
        self.bar = tqdm(total=100, unit="%", bar_format="{l_bar}{bar}| {elapsed}")

    def __call__(self, step: str, fraction: float) -> None:
        self.bar.set_description(step)
        self.bar.n = round(100 * fraction)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


@click.command("train")
@functools.partial(data_options, data_required=False)
@click.option(
    "--from-feedback",
    is_flag=True,
    help="Train on agents' corrections and confirmations, added to the base data.",
)
@click.option(
    "--base-data",
    "base_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --from-feedback: the CSV the feedback is added to (columns as for --data).",
)
@click.option("--no-base-data", is_flag=True, help="With --from-feedback: feedback rows only.")
@click.option("--min-class-rows", default=5, show_default=True, type=int)
@click.option(
    "--activate/--no-activate",
    "then_activate",
    default=False,
    help="Activate the new version right away (the gate still applies).",
)
@with_appcontext
def train_command(
    data_path,
    text_columns,
    priority_column,
    category_column,
    context_columns,
    from_feedback,
    base_path,
    no_base_data,
    min_class_rows,
    then_activate,
) -> None:
    """Train a model version from a CSV export or from feedback; register and gate it."""
    s = db.session()
    progress = _Progress()
    try:
        if from_feedback:
            if data_path is not None:
                raise click.UsageError("give --data or --from-feedback, not both")
            base = None if no_base_data else current_app.config.get("TRAINING_BASE_DATA")
            if base_path is not None:
                base = {
                    "path": str(base_path),
                    "text_columns": list(_columns(text_columns)),
                    "priority_column": priority_column,
                    "category_column": category_column,
                    "context_columns": list(_columns(context_columns)),
                }
            row = train_from_feedback(
                s, actor="cli", base=base, min_class_rows=min_class_rows, progress=progress
            )
        else:
            if data_path is None:
                raise click.UsageError("give --data FILE.csv or --from-feedback")
            data = _load(
                data_path,
                text_columns,
                priority_column,
                category_column,
                context_columns,
                min_class_rows=min_class_rows,
            )
            row = train_and_register(
                s, data, actor="cli", parent=parent_version(s), progress=progress
            )
    except (training.TrainingDataError, VersionError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        progress.close()
    s.commit()
    rows = row.manifest["training"]["rows"]
    click.echo(f"version {row.version} registered as candidate ({rows} rows)")
    for target in row.targets:
        m = row.metrics.get(target, {})
        click.echo(
            f"  {target}: held-out macro-F1 {m.get('macro_f1', float('nan')):.3f}, "
            f"accuracy {m.get('accuracy', float('nan')):.3f}, ECE {m.get('ece', float('nan')):.3f}"
        )
    echo_gate(row.gate)
    if then_activate:
        try:
            activate(s, row.version, actor="cli", reason="activated after training")
        except VersionError as exc:
            raise click.ClickException(str(exc)) from exc
        s.commit()
        click.echo(f"version {row.version} is now active")


def echo_gate(gate: dict | None) -> None:
    """Print a stored gate result, one line per target."""
    if not gate:
        return
    click.echo(f"  gate ({gate['rows']['frozen']} frozen + {gate['rows']['recent']} recent rows):")
    for target, entry in gate["targets"].items():
        line = f"    {target}: {entry['verdict']}"
        if "candidate" in entry:
            line += (
                f", macro-F1 {entry['candidate']['macro_f1']:.3f} vs "
                f"{entry['active']['macro_f1']:.3f} ({entry['active_version']}) "
                f"on {entry['rows']} rows"
            )
        elif entry.get("note"):
            line += f" ({entry['note']})"
        click.echo(line)


def _loaded(version: str) -> model_store.LoadedModel:
    try:
        return model_store.load_version(models_dir(), version)
    except model_store.ModelLoadError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("evaluate")
@click.option("--model", "version", required=True)
@data_options
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a confusion-matrix picture (PNG) per target.",
)
@with_appcontext
def evaluate_command(
    version, data_path, text_columns, priority_column, category_column, context_columns, plot
) -> None:
    """Evaluate a version on labelled data and print the metrics as JSON."""
    model = _loaded(version)
    data = _load(
        data_path, text_columns, priority_column, category_column, context_columns, min_class_rows=1
    )
    report: dict[str, dict] = {}
    for target, labels in data.labels.items():
        if target not in model.pipelines:
            raise click.ClickException(f"version {version} has no {target} model")
        report[target] = training.evaluate(model.pipelines[target], data.records, labels)
        if plot is not None:
            path = (
                plot
                if len(data.labels) == 1
                else plot.with_name(f"{plot.stem}-{target}{plot.suffix}")
            )
            training.plot_confusion(report[target], path)
            click.echo(f"wrote {path}", err=True)
    click.echo(
        json.dumps({"version": version, "rows": len(data.records), "targets": report}, indent=2)
    )


@click.command("predict")
@click.option("--model", "version", required=True)
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--text-columns", default="subject,description", show_default=True)
@click.option("--context-columns", default="", show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--batch-size", default=2000, show_default=True, type=int)
@with_appcontext
def predict_command(version, data_path, text_columns, context_columns, out, batch_size) -> None:
    """Score every row of a CSV in batches and write the labels and confidences to --out."""
    model = _loaded(version)
    try:
        rows, records = training.read_records(
            data_path,
            text_columns=_columns(text_columns),
            context_columns=_columns(context_columns),
        )
    except training.TrainingDataError as exc:
        raise click.ClickException(str(exc)) from exc
    targets = sorted(model.pipelines)
    columns = [c for t in targets for c in (f"predicted_{t}", f"{t}_confidence")]
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([*rows.fieldnames, *columns])
        for start in tqdm(range(0, len(records), batch_size), unit="batch"):
            batch = records[start : start + batch_size]
            results = [predict_proba_labels(model.pipelines[t], batch) for t in targets]
            for i, raw in enumerate(rows.rows[start : start + batch_size]):
                extra = [v for labels, conf in results for v in (labels[i], f"{conf[i]:.4f}")]
                writer.writerow([*raw, *extra])
    tmp.replace(out)
    click.echo(f"wrote {len(records)} predictions to {out}")


@click.command("activate")
@click.argument("version")
@click.option("--reason", default=None)
@click.option("--target", "targets", multiple=True, type=click.Choice(["priority", "category"]))
@click.option("--force", is_flag=True, help="Activate even when the gate finds it worse.")
@with_appcontext
def activate_command(version, reason, targets, force) -> None:
    """Make a registered version serve (every worker switches within seconds), gate permitting."""
    s = db.session()
    try:
        rows = activate(
            s, version, actor="cli", reason=reason, targets=targets or None, force=force
        )
    except VersionError as exc:
        raise click.ClickException(str(exc)) from exc
    s.commit()
    click.echo(f"version {version} active for {', '.join(r.target for r in rows)}")


@click.command("rollback")
@click.option("--reason", default=None)
@with_appcontext
def rollback_command(reason) -> None:
    """Return each target to the version that served before the current one."""
    s = db.session()
    try:
        done = rollback(s, actor="cli", reason=reason)
    except VersionError as exc:
        raise click.ClickException(str(exc)) from exc
    s.commit()
    for target, version in done.items():
        click.echo(f"{target}: back to {version}")


@click.command("models")
@with_appcontext
def models_command() -> None:
    """List registered model versions and which one serves each target."""
    s = db.session()
    active = active_versions(s)
    for row in s.scalars(select(ModelVersion).order_by(ModelVersion.id)):
        serving = [t for t, v in active.items() if v == row.version]
        f1 = ", ".join(
            f"{t} F1 {row.metrics[t]['macro_f1']:.3f}" for t in row.targets if t in row.metrics
        )
        click.echo(
            f"{row.version}  {row.status.value:<9}  serves: {', '.join(serving) or '-':<17}  {f1}"
        )


@click.group("feedback")
def feedback_group() -> None:
    """Agents' corrections and confirmations, the ground truth for the next model."""


@feedback_group.command("export")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def feedback_export_command(out: Path) -> None:
    """Write every human-labelled ticket (text, labels, what the model said) to a CSV file."""
    from triage.feedback import export_csv

    count = export_csv(db.session(), out)
    click.echo(f"wrote {count} feedback rows to {out}")


COMMANDS = [
    feedback_group,
    train_command,
    evaluate_command,
    predict_command,
    activate_command,
    rollback_command,
    models_command,
]
