"""Benchmark our category pipeline against a plain reference pipeline on BANKING77, in one run.

Usage: .venv/bin/python bench/model.py [--data-dir data/banking77] [--calls 1000] [--json out.json]

Measures, for each pipeline: training time on train.csv (ours as triage.training fits it, with
the two calibration folds on two threads, and on one thread), single-text predict latency p50/p99,
bulk predict throughput on test.csv, joblib artifact size and load time, and test macro-F1,
accuracy and expected calibration error (ECE, 10 bins). Prints a table, then the JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.svm import LinearSVC

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from triage.classifier import (  # noqa: E402
    build_pipeline,
    fit_pipeline,
    predict,
    predict_proba_labels,
)
from triage.training import calibration, load_csv  # noqa: E402

DATA_DIR = ROOT / "data" / "banking77"


def reference_pipeline() -> Pipeline:
    """Return the plain reference: word 1-2 + char 2-5 TF-IDF and a balanced LinearSVC."""
    return make_pipeline(
        FeatureUnion(
            [
                ("words", TfidfVectorizer(ngram_range=(1, 2))),
                ("chars", TfidfVectorizer(analyzer="char", ngram_range=(2, 5))),
            ]
        ),
        LinearSVC(class_weight="balanced"),
    )


def load_split(data_dir: Path, name: str) -> tuple[list[dict[str, str]], list[str]]:
    """Return the records and category labels of one BANKING77 split, read by triage.training."""
    data = load_csv(data_dir / f"{name}.csv", text_columns=["text"], category_column="category")
    return data.records, data.labels["category"]


def texts(records: Sequence[dict[str, str]]) -> list[str]:
    """Return the raw ticket texts, which is what the reference pipeline takes."""
    return [r["description"] for r in records]


def _percentile(values: Sequence[float], q: float) -> float:
    """Return the q-th percentile of values."""
    return float(np.percentile(np.asarray(values), q))


def measure(
    name: str,
    pipeline: Pipeline,
    train: tuple[Sequence[Any], list[str]],
    test: tuple[Sequence[Any], list[str]],
    *,
    single: Callable[[Pipeline, Any], Any],
    bulk: Callable[[Pipeline, Sequence[Any]], tuple[list[str], np.ndarray | None]],
    calls: int,
    plain: Callable[[Pipeline, Any], Any] | None = None,
    fit: Callable[[Pipeline, Sequence[Any], list[str]], Any] | None = None,
) -> dict[str, Any]:
    """Fit, time and score one pipeline; return its figures."""
    start = time.perf_counter()
    clone(pipeline).fit(*train)
    fit_one_thread = time.perf_counter() - start
    start = time.perf_counter()
    (fit or (lambda p, x, y: p.fit(x, y)))(pipeline, *train)
    fit_seconds = time.perf_counter() - start

    inputs, labels = test
    bulk(pipeline, inputs[:50])  # warm caches built on first use, as a running service would
    start = time.perf_counter()
    predicted, confidence = bulk(pipeline, inputs)
    bulk_seconds = time.perf_counter() - start

    latencies = _latencies(pipeline, single, inputs, calls)
    plain_latencies = _latencies(pipeline, plain, inputs, calls) if plain else None

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.joblib"
        joblib.dump(pipeline, path)
        size = path.stat().st_size
        start = time.perf_counter()
        joblib.load(path)
        load_seconds = time.perf_counter() - start

    result = {
        "pipeline": name,
        "train_rows": len(train[1]),
        "fit_s": round(fit_seconds, 2),
        "fit_one_thread_s": round(fit_one_thread, 2),
        "predict_p50_ms": round(statistics.median(latencies) * 1000, 3),
        "predict_p99_ms": round(_percentile(latencies, 99) * 1000, 3),
        "predict_calls": calls,
        "label_only_p50_ms": None,
        "bulk_texts_per_s": round(len(inputs) / bulk_seconds),
        "artifact_mb": round(size / 1e6, 2),
        "load_s": round(load_seconds, 3),
        "test_rows": len(labels),
        "macro_f1": round(float(f1_score(labels, predicted, average="macro")), 4),
        "accuracy": round(float(accuracy_score(labels, predicted)), 4),
        "ece": None,
    }
    if plain_latencies:
        result["label_only_p50_ms"] = round(statistics.median(plain_latencies) * 1000, 3)
    if confidence is not None:
        correct = np.asarray(predicted, dtype=object) == np.asarray(labels, dtype=object)
        result["ece"] = round(calibration(confidence, correct)[0], 4)
    return result


def _latencies(
    pipeline: Pipeline, call: Callable[[Pipeline, Any], Any], inputs: Sequence[Any], calls: int
) -> list[float]:
    """Return the seconds each of calls single-item predictions took."""
    latencies = []
    for i in range(calls):
        item = inputs[i % len(inputs)]
        start = time.perf_counter()
        call(pipeline, item)
        latencies.append(time.perf_counter() - start)
    return latencies


def run(data_dir: Path, calls: int) -> list[dict[str, Any]]:
    """Measure our pipeline (single calls with explanations) and the reference, in one run."""
    train_records, train_labels = load_split(data_dir, "train")
    test_records, test_labels = load_split(data_dir, "test")
    ours = measure(
        "triage (ours)",
        build_pipeline(),
        (train_records, train_labels),
        (test_records, test_labels),
        single=lambda p, record: predict(p, [record]),
        bulk=predict_proba_labels,
        calls=calls,
        plain=lambda p, record: predict_proba_labels(p, [record]),
        fit=fit_pipeline,
    )
    reference = measure(
        "reference",
        reference_pipeline(),
        (texts(train_records), train_labels),
        (texts(test_records), test_labels),
        single=lambda p, text: p.predict([text]),
        bulk=lambda p, items: (p.predict(items).tolist(), None),
        calls=calls,
    )
    return [ours, reference]


COLUMNS = [
    ("pipeline", "pipeline"),
    ("fit_s", "fit s"),
    ("fit_one_thread_s", "fit s 1 thread"),
    ("predict_p50_ms", "p50 ms"),
    ("predict_p99_ms", "p99 ms"),
    ("label_only_p50_ms", "p50 ms no expl."),
    ("bulk_texts_per_s", "bulk/s"),
    ("artifact_mb", "MB"),
    ("load_s", "load s"),
    ("macro_f1", "macro-F1"),
    ("accuracy", "accuracy"),
    ("ece", "ECE"),
]


def table(results: list[dict[str, Any]]) -> str:
    """Return the results as a fixed-width text table."""
    rows = [[label for _, label in COLUMNS]]
    for result in results:
        rows.append(["" if result.get(key) is None else str(result[key]) for key, _ in COLUMNS])
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table and the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--calls", type=int, default=1000, help="single-text predict calls")
    parser.add_argument("--json", type=Path, help="also write the JSON to this file")
    args = parser.parse_args(argv)
    results = run(args.data_dir, max(args.calls, 500))
    print(table(results))
    payload = json.dumps(results, indent=2)
    print(payload)
    if args.json:
        args.json.write_text(payload + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
