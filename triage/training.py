"""Training data from the user's CSV or stored tickets, model fitting, evaluation and plots."""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from triage.classifier import DEFAULTS, build_pipeline, fit_pipeline, predict_proba_labels

TARGETS = ("priority", "category")
MIN_CLASS_ROWS = 5
RELIABILITY_BINS = 10

Progress = Callable[[str, float], None]


class TrainingDataError(ValueError):
    """Training data that cannot be used, naming the 1-based CSV line and the column at fault."""

    def __init__(self, message: str, *, row: int | None = None, column: str | None = None):
        self.row = row
        self.column = column
        self.reason = message
        where = []
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


@dataclass(frozen=True)
class TrainingData:
    """Ticket records with labels per target, a fingerprint of the rows and where they came from.

    Column mapping: with one text column its text becomes the record's "description"; with two
    or more, the first becomes "subject" and the others, joined by newlines, "description".
    Context columns keep their name as record key unless a mapping {column: key} is given.
    """

    records: list[dict[str, str]]
    labels: dict[str, list[str]]
    fingerprint: str
    source: str
    columns: dict[str, Any] = field(default_factory=dict)

    @property
    def targets(self) -> tuple[str, ...]:
        """Return the targets that have labels, in the fixed order priority, category."""
        return tuple(t for t in TARGETS if t in self.labels)

    @property
    def context_fields(self) -> tuple[str, ...]:
        """Return the record keys that hold context values."""
        return tuple(self.columns.get("context_columns", {}).values())

    def __len__(self) -> int:
        return len(self.records)

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[Mapping[str, Any]],
        *,
        text_columns: Sequence[str],
        priority_column: str | None = None,
        category_column: str | None = None,
        context_columns: Sequence[str] | Mapping[str, str] = (),
        source: str = "rows",
        min_class_rows: int = MIN_CLASS_ROWS,
    ) -> TrainingData:
        """Build training data from in-memory rows; error rows are their 1-based position."""
        numbered = [(number, dict(row)) for number, row in enumerate(rows, start=1)]
        available = sorted({key for _, row in numbered for key in row if isinstance(key, str)})
        return _build(
            numbered,
            available,
            text_columns=text_columns,
            priority_column=priority_column,
            category_column=category_column,
            context_columns=context_columns,
            source=source,
            min_class_rows=min_class_rows,
            header_row=None,
        )


@dataclass(frozen=True)
class TrainResult:
    """Pipelines fitted on all rows, held-out metrics per target and training info."""

    pipelines: dict[str, Pipeline]
    metrics: dict[str, dict[str, Any]]
    training: dict[str, Any]


def load_csv(
    path: str | Path,
    *,
    text_columns: Sequence[str],
    priority_column: str | None = None,
    category_column: str | None = None,
    context_columns: Sequence[str] | Mapping[str, str] = (),
    min_class_rows: int = MIN_CLASS_ROWS,
) -> TrainingData:
    """Read a UTF-8 CSV (BOM allowed) with a header row, or raise TrainingDataError."""
    path = Path(path)
    if not path.is_file():
        raise TrainingDataError(f"file not found: {path}")
    numbered: list[tuple[int, dict[str, Any]]] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames
            if not header:
                raise TrainingDataError(f"file is empty: {path}")
            start = reader.line_num + 1
            for row in reader:
                if None in row:
                    raise TrainingDataError(
                        f"has {len(header) + len(row[None])} fields, the header has {len(header)}",
                        row=start,
                    )
                numbered.append((start, row))
                start = reader.line_num + 1
    except UnicodeDecodeError as exc:
        raise TrainingDataError(f"file is not UTF-8 text: {exc}") from None
    except csv.Error as exc:
        raise TrainingDataError(f"not a readable CSV file: {exc}") from None
    return _build(
        numbered,
        list(header),
        text_columns=text_columns,
        priority_column=priority_column,
        category_column=category_column,
        context_columns=context_columns,
        source=str(path),
        min_class_rows=min_class_rows,
        header_row=1,
    )


def _build(
    numbered: list[tuple[int, dict[str, Any]]],
    available: list[str],
    *,
    text_columns: Sequence[str],
    priority_column: str | None,
    category_column: str | None,
    context_columns: Sequence[str] | Mapping[str, str],
    source: str,
    min_class_rows: int,
    header_row: int | None,
) -> TrainingData:
    """Validate rows against the column mapping and turn them into records and labels."""
    if isinstance(text_columns, str):
        text_columns = [text_columns]
    if not text_columns:
        raise TrainingDataError("no text column given")
    targets = {
        name: column
        for name, column in (("priority", priority_column), ("category", category_column))
        if column
    }
    if not targets:
        raise TrainingDataError("no target column given: name a priority or a category column")
    if not isinstance(context_columns, Mapping):
        context_columns = {column: column for column in context_columns}
    known = set(available)
    for column in [*text_columns, *targets.values(), *context_columns]:
        if column not in known:
            raise TrainingDataError(
                f"missing column; the available columns are: {', '.join(available) or '(none)'}",
                row=header_row,
                column=column,
            )
    if not numbered:
        raise TrainingDataError(f"no data rows in {source}")

    records: list[dict[str, str]] = []
    labels: dict[str, list[str]] = {target: [] for target in targets}
    first_row: dict[str, dict[str, int]] = {target: {} for target in targets}
    for number, row in numbered:
        texts = [_clean(row.get(column)) for column in text_columns]
        if not any(texts):
            raise TrainingDataError(
                f"empty text in all text columns ({', '.join(text_columns)})",
                row=number,
                column=text_columns[0],
            )
        record = _record(row, text_columns, context_columns)
        for target, column in targets.items():
            label = _clean(row.get(column))
            if not label:
                raise TrainingDataError("empty label", row=number, column=column)
            labels[target].append(label)
            first_row[target].setdefault(label, number)
        records.append(record)

    for target, column in targets.items():
        counts = Counter(labels[target])
        if len(counts) < 2:
            only = next(iter(counts))
            raise TrainingDataError(
                f"only one class ({only!r}); a model needs at least two", column=column
            )
        for label, count in sorted(counts.items(), key=lambda item: (item[1], item[0])):
            if count < min_class_rows:
                raise TrainingDataError(
                    f"class {label!r} has {count} rows, fewer than the minimum of {min_class_rows}",
                    row=first_row[target][label],
                    column=column,
                )

    columns = {
        "text_columns": list(text_columns),
        "targets": dict(targets),
        "context_columns": dict(context_columns),
    }
    return TrainingData(records, labels, fingerprint(records, labels), source, columns)


def _record(
    row: Mapping[str, Any], text_columns: Sequence[str], context_columns: Mapping[str, str]
) -> dict[str, str]:
    """Map one row to a ticket record: the documented text mapping plus non-empty context."""
    texts = [_clean(row.get(column)) for column in text_columns]
    if len(texts) == 1:
        record = {"subject": "", "description": texts[0]}
    else:
        record = {"subject": texts[0], "description": "\n".join(t for t in texts[1:] if t)}
    for column, key in context_columns.items():
        value = _clean(row.get(column))
        if value:
            record[key] = value
    return record


@dataclass(frozen=True)
class CsvRows:
    """The raw cells of a CSV file: its header and one list of values per data row."""

    fieldnames: list[str]
    rows: list[list[str]]


def read_records(
    path: str | Path,
    *,
    text_columns: Sequence[str],
    context_columns: Sequence[str] | Mapping[str, str] = (),
) -> tuple[CsvRows, list[dict[str, str]]]:
    """Read a CSV to score: its raw rows and one ticket record per row, mapped as in load_csv."""
    path = Path(path)
    if not path.is_file():
        raise TrainingDataError(f"file not found: {path}")
    if isinstance(text_columns, str):
        text_columns = [text_columns]
    if not text_columns:
        raise TrainingDataError("no text column given")
    if not isinstance(context_columns, Mapping):
        context_columns = {column: column for column in context_columns}
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header:
                raise TrainingDataError(f"file is empty: {path}")
            for column in [*text_columns, *context_columns]:
                if column not in header:
                    raise TrainingDataError(
                        f"missing column; the available columns are: {', '.join(header)}",
                        row=1,
                        column=column,
                    )
            rows = list(reader)
    except UnicodeDecodeError as exc:
        raise TrainingDataError(f"file is not UTF-8 text: {exc}") from None
    except csv.Error as exc:
        raise TrainingDataError(f"not a readable CSV file: {exc}") from None
    records = [
        _record(dict(zip(header, row, strict=False)), text_columns, context_columns) for row in rows
    ]
    return CsvRows(list(header), rows), records


def _clean(value: Any) -> str:
    """Return a cell as stripped text, with None as empty."""
    return "" if value is None else str(value).strip()


def fingerprint(records: Sequence[Mapping[str, Any]], labels: Mapping[str, Sequence[str]]) -> str:
    """Return the sha256 of the normalised rows (records and labels, in order) as hex."""
    digest = hashlib.sha256()
    targets = sorted(labels)
    for index, record in enumerate(records):
        row = [record, {target: labels[target][index] for target in targets}]
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def train(
    data: TrainingData,
    *,
    progress: Progress | None = None,
    holdout: float = 0.2,
    seed: int = 0,
    **hyper: Any,
) -> TrainResult:
    """Fit one pipeline per target: score a stratified held-out split, then refit on all rows."""
    report = progress or (lambda step, fraction: None)
    targets = data.targets
    pipelines: dict[str, Pipeline] = {}
    metrics: dict[str, dict[str, Any]] = {}
    records = data.records
    steps = 3 * len(targets)
    done = 0
    for target in targets:
        labels = data.labels[target]
        n_classes = len(set(labels))
        n_test = min(max(math.ceil(holdout * len(labels)), n_classes), len(labels) - n_classes)
        train_idx, test_idx = train_test_split(
            np.arange(len(labels)), test_size=n_test, stratify=labels, random_state=seed
        )
        report(f"{target}: fitting on {len(train_idx)} rows", done / steps)
        pipeline = build_pipeline(context_fields=data.context_fields, **hyper)
        fit_pipeline(pipeline, [records[i] for i in train_idx], [labels[i] for i in train_idx])
        done += 1
        report(f"{target}: evaluating on {len(test_idx)} held-out rows", done / steps)
        metrics[target] = evaluate(
            pipeline, [records[i] for i in test_idx], [labels[i] for i in test_idx]
        )
        done += 1
        report(f"{target}: refitting on all {len(labels)} rows", done / steps)
        final = build_pipeline(context_fields=data.context_fields, **hyper)
        pipelines[target] = fit_pipeline(final, records, labels)
        done += 1
    report("done", 1.0)
    training = {
        "fingerprint": data.fingerprint,
        "rows": len(records),
        "source": data.source,
        "columns": data.columns,
        "holdout": holdout,
        "seed": seed,
        "hyper": {**DEFAULTS, **hyper},
    }
    return TrainResult(pipelines, metrics, training)


def evaluate(
    pipeline: Pipeline, records: Sequence[Mapping[str, Any]], labels: Sequence[str]
) -> dict:
    """Return accuracy, F1 scores, per-class figures, calibration error and confusion matrix."""
    predicted, confidence = predict_proba_labels(pipeline, records)
    truth = np.asarray(labels, dtype=object)
    guess = np.asarray(predicted, dtype=object)
    classes = sorted(set(pipeline.classes_) | set(labels))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, guess, labels=classes, zero_division=0
    )
    per_class = {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(classes)
    }
    present = sorted(set(labels))
    ece, reliability = calibration(confidence, guess == truth)
    return {
        "n": len(truth),
        "accuracy": float(accuracy_score(truth, guess)),
        "macro_f1": float(f1_score(truth, guess, labels=present, average="macro", zero_division=0)),
        "weighted_f1": float(
            f1_score(truth, guess, labels=present, average="weighted", zero_division=0)
        ),
        "ece": ece,
        "reliability": reliability,
        "per_class": per_class,
        "confusion": {
            "labels": classes,
            "matrix": confusion_matrix(truth, guess, labels=classes).tolist(),
        },
    }


def calibration(
    confidence: np.ndarray, correct: np.ndarray, bins: int = RELIABILITY_BINS
) -> tuple[float, list[dict[str, float]]]:
    """Return the expected calibration error of top-label confidences and the reliability table."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bin i holds (edges[i], edges[i+1]]; a confidence of exactly 0 falls into the first bin.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    table = []
    ece = 0.0
    for i in range(bins):
        mask = index == i
        count = int(mask.sum())
        row = {"lower": float(edges[i]), "upper": float(edges[i + 1]), "count": count}
        if count:
            row["confidence"] = float(confidence[mask].mean())
            row["accuracy"] = float(correct[mask].mean())
            ece += count / len(confidence) * abs(row["accuracy"] - row["confidence"])
        else:
            row["confidence"] = row["accuracy"] = None
        table.append(row)
    return float(ece), table


def plot_confusion(metrics: Mapping[str, Any], path: str | Path, *, title: str = "") -> Path:
    """Write the confusion matrix as a PNG: colour is the share of the true class, text a count."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state, Agg canvas

    labels = [str(label) for label in metrics["confusion"]["labels"]]
    matrix = np.asarray(metrics["confusion"]["matrix"], dtype=float)
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    n = len(labels)
    cell = 0.5 if n <= 10 else 0.24  # inches per class, so 77 classes stay legible
    font = 9.0 if n <= 10 else 7.0
    side = max(3.0, cell * n)
    margin = max((len(label) for label in labels), default=1) * font * 0.6 / 72 + 0.6
    width, height = margin + side + 1.3, margin + side + 0.7
    figure = Figure(figsize=(width, height), dpi=100)
    axes = figure.add_axes((margin / width, margin / height, side / width, side / height))
    image = axes.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(n), labels, rotation=90, fontsize=font)
    axes.set_yticks(range(n), labels, fontsize=font)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    for i, j in zip(*np.nonzero(matrix), strict=True):
        colour = "white" if share[i, j] > 0.5 else "black"
        axes.text(
            j, i, int(matrix[i, j]), ha="center", va="center", fontsize=font - 1, color=colour
        )
    heading = title or "Confusion matrix"
    if metrics.get("accuracy") is not None:
        heading += (
            f" (accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics.get('macro_f1', 0):.3f})"
        )
    axes.set_title(heading, fontsize=10)
    bar = figure.add_axes(
        ((margin + side + 0.2) / width, margin / height, 0.2 / width, side / height)
    )
    figure.colorbar(image, cax=bar, label="share of the true class")
    path = Path(path)
    figure.savefig(path, format="png")
    return path
