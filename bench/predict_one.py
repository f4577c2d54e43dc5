"""Time one ticket's prediction with explanation: the single-record path against the batch path.

Usage: .venv/bin/python bench/predict_one.py [--data demo|banking77] [--texts 500] [--rounds 9]
                                              [--explain 5] [--data-dir data/banking77] [--json F]

The API predicts each ticket alone, once per target, with `triage.classifier.predict(pipeline,
[record])` and five reasons. This fits the model (`demo`: both targets of the demo tickets with
their context fields, as `triage setup` does; `banking77`: the category of train.csv), checks that
both paths give the same predictions for the texts, then times them on the same model and texts in
interleaved rounds (ABBA order): the batch path forced (one-row sparse matrix, then explain(),
as predict() did for every call before) and the single-record path predict() now takes. Prints
the median CPU time (time.process_time) per predict call and target over the rounds, the ratio,
and the JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The BANKING77 files as bench/model.py reads them (this folder is on sys.path as the script's).
from model import DATA_DIR, load_split  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

from triage.classifier import (  # noqa: E402
    Prediction,
    _predict_batch,
    build_pipeline,
    fit_pipeline,
    predict,
    tables_for,
)
from triage.versions import demo_data  # noqa: E402


def demo_models() -> tuple[dict[str, Pipeline], list[dict[str, Any]]]:
    """Return the demo pipelines per target, fitted on all demo tickets, and those tickets."""
    data = demo_data()
    pipelines = {
        target: fit_pipeline(
            build_pipeline(context_fields=data.context_fields), data.records, data.labels[target]
        )
        for target in data.targets
    }
    return pipelines, data.records


def banking77_model(data_dir: Path) -> tuple[dict[str, Pipeline], list[dict[str, Any]]]:
    """Return the category pipeline fitted on BANKING77 train.csv, and the test.csv records."""
    pipeline = fit_pipeline(build_pipeline(), *load_split(data_dir, "train"))
    return {"category": pipeline}, load_split(data_dir, "test")[0]


def batch_path(pipeline: Pipeline, record: Any, explain: int) -> list[Prediction]:
    """Predict one record through the batch path, as predict() did before the single path."""
    return _predict_batch(tables_for(pipeline), [record], top_k=3, explain=explain)


def single_path(pipeline: Pipeline, record: Any, explain: int) -> list[Prediction]:
    """Predict one record as the API does."""
    return predict(pipeline, [record], explain=explain)


def same(a: Prediction, b: Prediction) -> bool:
    """Return whether two predictions agree: labels and terms equal, numbers within 1e-9."""
    numbers = [
        (a.confidence, b.confidence),
        *((x, y) for (_, x), (_, y) in zip(a.alternatives, b.alternatives, strict=True)),
        *((x, y) for (_, x), (_, y) in zip(a.explanation, b.explanation, strict=True)),
    ]
    return (
        a.label == b.label
        and [c for c, _ in a.alternatives] == [c for c, _ in b.alternatives]
        and [t for t, _ in a.explanation] == [t for t, _ in b.explanation]
        and all(abs(x - y) <= 1e-9 for x, y in numbers)
    )


PATHS: dict[str, Callable[[Pipeline, Any, int], list[Prediction]]] = {
    "batch": batch_path,
    "single": single_path,
}


def cpu_per_call(
    call: Callable[[Pipeline, Any, int], list[Prediction]],
    pipelines: Sequence[Pipeline],
    records: Sequence[Any],
    explain: int,
) -> float:
    """Return the CPU seconds per predict call of one pass over the records and pipelines."""
    start = time.process_time()
    for record in records:
        for pipeline in pipelines:
            call(pipeline, record, explain)
    return (time.process_time() - start) / (len(records) * len(pipelines))


def run(data: str, data_dir: Path, n_texts: int, rounds: int, explain: int) -> dict[str, Any]:
    """Fit the model, check both paths agree, then time them in interleaved rounds."""
    start = time.perf_counter()
    pipelines, records = demo_models() if data == "demo" else banking77_model(data_dir)
    fit_seconds = time.perf_counter() - start
    records = random.Random(0).sample(records, min(n_texts, len(records)))
    models = list(pipelines.values())
    identical = 0
    for pipeline in models:  # same answers, and every cache built before timing
        for record in records:
            [single] = single_path(pipeline, record, explain)
            [batch] = batch_path(pipeline, record, explain)
            if not same(single, batch):
                raise SystemExit(f"paths disagree on {record!r}: {single} != {batch}")
            identical += single == batch
    runs: dict[str, list[float]] = {name: [] for name in PATHS}
    for i in range(rounds):
        names = list(PATHS) if i % 2 == 0 else list(PATHS)[::-1]
        for name in names:
            runs[name].append(cpu_per_call(PATHS[name], models, records, explain))
    medians = {name: statistics.median(values) for name, values in runs.items()}
    return {
        "data": data,
        "targets": list(pipelines),
        "classes": {t: len(p.classes_) for t, p in pipelines.items()},
        "fit_s": round(fit_seconds, 1),
        "texts": len(records),
        "bit_identical": f"{identical}/{len(records) * len(models)}",
        "rounds": rounds,
        "explain": explain,
        "cpu_ms_per_call": {name: round(m * 1000, 4) for name, m in medians.items()},
        "ratio_batch_over_single": round(medians["batch"] / medians["single"], 2),
        "ratio_per_round": [
            round(b / s, 2) for b, s in zip(runs["batch"], runs["single"], strict=True)
        ],
        "runs_ms": {name: [round(v * 1000, 4) for v in values] for name, values in runs.items()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the figures and the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["demo", "banking77"], default="demo")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="BANKING77 csv folder")
    parser.add_argument("--texts", type=int, default=500, help="records per round")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--explain", type=int, default=5, help="reasons per prediction")
    parser.add_argument("--json", type=Path, help="also write the JSON to this file")
    args = parser.parse_args(argv)
    result = run(args.data, args.data_dir, args.texts, max(args.rounds, 2), args.explain)
    cpu = result["cpu_ms_per_call"]
    print(
        f"{result['data']}: targets {', '.join(result['targets'])}, {result['texts']} texts, "
        f"{result['rounds']} rounds, explain={result['explain']}; "
        f"bit-identical predictions {result['bit_identical']}"
    )
    print(f"  batch path forced   {cpu['batch']:.3f} ms CPU per call (median)")
    print(f"  single-record path  {cpu['single']:.3f} ms CPU per call (median)")
    print(f"  ratio               {result['ratio_batch_over_single']:.2f}x")
    payload = json.dumps(result, indent=2)
    print(payload)
    if args.json:
        args.json.write_text(payload + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
