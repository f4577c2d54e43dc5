"""Write docs/model-quality.md: model selection by cross-validation on BANKING77's train.csv only,
then one fit on train.csv and one evaluation on test.csv, ours beside the reference.

Usage: .venv/bin/python bench/quality_report.py [--folds 5] [--cv-only] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

sys.path.insert(0, str(Path(__file__).resolve().parent))

from model import DATA_DIR, ROOT, load_split, reference_pipeline, texts  # noqa: E402

from triage.classifier import DEFAULTS, build_pipeline, fit_pipeline  # noqa: E402
from triage.training import calibration, evaluate  # noqa: E402

TARGET_MACRO_F1 = 0.92

# Candidates compared by cross-validation on train.csv; the winner's settings are DEFAULTS.
CANDIDATES: dict[str, dict[str, Any]] = {
    "LinearSVC alone (previous choice)": {"nb_weight": 0.0},
    "+ naive Bayes, alpha=0.01, weight=0.02": {"nb_weight": 0.02},
    "+ naive Bayes, alpha=0.01, weight=0.03 (chosen)": {},
    "+ naive Bayes, alpha=0.03, weight=0.03": {"nb_alpha": 0.03},
    "+ naive Bayes, alpha=0.1, weight=0.03": {"nb_alpha": 0.1},
}


def _fold(
    make: Callable[[], Pipeline], inputs: list[Any], labels: np.ndarray, train, test
) -> dict[str, float]:
    """Fit on one fold's training part and score its test part."""
    pipeline = make()
    start = time.perf_counter()
    pipeline.fit([inputs[i] for i in train], labels[train])
    seconds = time.perf_counter() - start
    held_out = [inputs[i] for i in test]
    predicted = pipeline.predict(held_out)
    result = {
        "macro_f1": f1_score(labels[test], predicted, average="macro"),
        "accuracy": accuracy_score(labels[test], predicted),
        "fit_s": seconds,
        "ece": float("nan"),
    }
    if hasattr(pipeline, "predict_proba"):
        proba = pipeline.predict_proba(held_out)
        correct = pipeline.classes_[proba.argmax(axis=1)] == labels[test]
        result["ece"] = calibration(proba.max(axis=1), correct)[0]
    return result


def cross_validate(folds: int, jobs: int) -> list[dict[str, Any]]:
    """Return mean and spread of each candidate's scores over stratified folds of train.csv."""
    records, labels = load_split(DATA_DIR, "train")
    y = np.asarray(labels, dtype=object)
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=0).split(records, y))
    runs: list[tuple[str, Callable[[], Pipeline], list[Any]]] = [
        ("reference (plain word 1-2 + char 2-5, LinearSVC)", reference_pipeline, texts(records))
    ]
    for name, hyper in CANDIDATES.items():
        runs.append((name, lambda h=hyper: build_pipeline(**h), records))
    rows = []
    for name, make, inputs in runs:
        scores = Parallel(n_jobs=jobs)(
            delayed(_fold)(make, inputs, y, train, test) for train, test in splits
        )
        row: dict[str, Any] = {"candidate": name}
        for key in ("macro_f1", "accuracy", "ece", "fit_s"):
            values = np.asarray([s[key] for s in scores], dtype=float)
            row[key] = float(values.mean())
            row[f"{key}_std"] = float(values.std())
        row["folds_macro_f1"] = [round(s["macro_f1"], 4) for s in scores]
        rows.append(row)
        print(f"cv {name}: macro-F1 {row['macro_f1']:.4f} ± {row['macro_f1_std']:.4f}", flush=True)
    return rows


def test_figures() -> dict[str, Any]:
    """Fit ours and the reference on train.csv once and evaluate both once on test.csv."""
    train_records, train_labels = load_split(DATA_DIR, "train")
    test_records, test_labels = load_split(DATA_DIR, "test")
    start = time.perf_counter()
    ours = fit_pipeline(build_pipeline(), train_records, train_labels)
    ours_fit = time.perf_counter() - start
    ours_metrics = evaluate(ours, test_records, test_labels)
    reference = reference_pipeline()
    start = time.perf_counter()
    reference.fit(texts(train_records), train_labels)
    reference_fit = time.perf_counter() - start
    predicted = reference.predict(texts(test_records))
    labels = sorted(set(test_labels))
    _, _, f1, _ = precision_recall_fscore_support(
        test_labels, predicted, labels=labels, zero_division=0
    )
    precision_recall = {label: {"f1": float(f1[i])} for i, label in enumerate(labels)}
    reference_metrics = {
        "macro_f1": float(f1_score(test_labels, predicted, average="macro")),
        "accuracy": float(accuracy_score(test_labels, predicted)),
        "weighted_f1": float(f1_score(test_labels, predicted, average="weighted")),
        "per_class": precision_recall,
    }
    return {
        "ours": ours_metrics,
        "ours_fit_s": ours_fit,
        "reference": reference_metrics,
        "reference_fit_s": reference_fit,
        "train_rows": len(train_labels),
        "test_rows": len(test_labels),
    }


def render(cv: list[dict[str, Any]] | None, test: dict[str, Any], folds: int) -> str:
    """Return the markdown report."""
    ours, reference = test["ours"], test["reference"]
    hyper = ", ".join(f"{k}={v!r}" for k, v in DEFAULTS.items())
    lines = [
        "# Model quality on BANKING77",
        "",
        "Generated by `bench/quality_report.py`; do not edit by hand. Data: "
        "[BANKING77](../data/banking77/README.md) (Casanueva et al. 2020, CC BY 4.0), "
        f"{test['train_rows']} training and {test['test_rows']} test texts, 77 categories.",
        "",
        "## How the model was chosen",
        "",
        f"Every candidate was scored by {folds}-fold stratified cross-validation on `train.csv` "
        "only (seed 0, same folds for all). All candidates share the features chosen in the "
        "first selection on the same folds (word 1-2-grams + unordered word pairs within 12 "
        "tokens, `min_df=2`; char_wb 2-4-grams), which had beaten no word pairs (0.9022), "
        "window 8 (0.9067), char_wb 2-5 and 1-4 (0.9073, 0.9088), C=0.5 (0.9067) and sigmoid "
        "calibration (same F1, ECE 0.063). The table compares the plain LinearSVC of that "
        "selection with the same LinearSVC plus a scaled multinomial naive Bayes "
        "log-likelihood (`NaiveBayesSVC`).",
        "",
        "Screening before this table, on the same 5 folds with the feature matrices fitted once "
        "per fold and the LinearSVC's own ranking (which temperature scaling keeps), none "
        "beat the plain LinearSVC's 0.9084 by more than its spread: C 0.7 / 1.5 / 2 "
        "(0.9074 / 0.9078 / 0.9070), hinge loss (0.9077), no class weights (0.9074), "
        "intercept_scaling=10 (0.9087), NB-SVM log-count-ratio feature scaling (0.8977; 0.9043 "
        "with the square root of the ratio), char_wb 1-5 (0.9071), char 2-5 instead of char_wb "
        "(0.9074), char_wb 3-5 (0.9055), char 2-5 as a third block (0.9093, twice the fit time), "
        "block weights 1.2 for words or chars (0.9075 / 0.9078), binary or no-idf word "
        "features (0.9085 / 0.9089), pair window 30 (0.9088), ordered instead of unordered "
        "pairs (0.9063); SGD modified Huber alone (0.8906) or averaged with the SVM "
        "(0.8957-0.9025), a second LinearSVC on word 1-2 min_df=1 + char 2-5 averaged in "
        "(0.9093), ComplementNB scores added (0.9084). Adding multinomial naive Bayes "
        "log-likelihoods to the SVM's scores was the one consistent gain (0.9086-0.9112 over a "
        "3 x 3 grid of alpha and weight, best at alpha=0.01, weight 0.02-0.03, better on 4 of 5 "
        "folds); the table re-scores that grid's best row and neighbours through the real "
        "pipeline, calibration included.",
        "",
        "Honesty note: `test.csv` had been measured once before, with the LinearSVC alone "
        "(macro-F1 0.9168, short of the 0.92 target); that shortfall is why this second "
        "selection was run. The choice below was made on `train.csv` folds only, and "
        "`test.csv` was then measured once more, with the chosen configuration only.",
        "",
    ]
    if cv:
        lines += [
            "| candidate | macro-F1 (mean ± sd) | accuracy | ECE | fit s (on 4/5 of train) |",
            "| --- | --- | --- | --- | --- |",
        ]
        for row in cv:
            ece = "" if np.isnan(row["ece"]) else f"{row['ece']:.4f}"
            lines.append(
                f"| {row['candidate']} | {row['macro_f1']:.4f} ± {row['macro_f1_std']:.4f} | "
                f"{row['accuracy']:.4f} | {ece} | {row['fit_s']:.1f} |"
            )
        lines += [
            "",
            "Fit times were measured with two folds running at once on the 2-core machine, so "
            "they are slower than a fit alone; the last run also shared the machine with other "
            "work (load average 6-10), so compare fit times within the table only.",
            "",
        ]
    lines += [
        f"Chosen: {hyper}.",
        "",
        "Word 1-2-grams plus unordered word pairs within 12 tokens (pairs seen in one training "
        "text only are dropped: `min_df=2`) and char_wb 2-4-grams, sublinear TF-IDF with an l2 "
        "norm per block; a LinearSVC with balanced class weights whose class scores get 0.03 "
        "times the multinomial naive Bayes log-likelihood (alpha=0.01) of the same TF-IDF "
        "features added. Both are linear in the features, so the sum is one weight matrix: the "
        "fast prediction path and the top-term explanations read it unchanged (the naive Bayes "
        "part is centred per feature across classes, which changes no probability). Naive "
        "Bayes costs one sparse sum per fit. Temperature scaling is fitted on 2-fold "
        "out-of-fold decision values (CalibratedClassifierCV, `ensemble=False`, so one model "
        "trained on all rows makes the predictions); one temperature keeps the ranking (same "
        "F1) and calibrates far better than one sigmoid per class. The remaining errors are "
        "mostly between near-synonymous intents (see the per-class table), where sentence "
        "encoders do better (about 93% accuracy in Casanueva et al.).",
        "",
        "## Test figures (train.csv -> test.csv, the chosen configuration measured once)",
        "",
        "| pipeline | macro-F1 | accuracy | weighted-F1 | ECE (10 bins) |",
        "| --- | --- | --- | --- | --- |",
        f"| triage (ours) | {ours['macro_f1']:.4f} | {ours['accuracy']:.4f} | "
        f"{ours['weighted_f1']:.4f} | {ours['ece']:.4f} |",
        f"| reference | {reference['macro_f1']:.4f} | {reference['accuracy']:.4f} | "
        f"{reference['weighted_f1']:.4f} | n/a (no probabilities) |",
        "",
        "Speed and size (fit time, latency, throughput, artifact) are measured by "
        "`bench/model.py`; on the shared 2-core machine wall times vary with other work.",
        "",
        f"Target: test macro-F1 >= {TARGET_MACRO_F1} and above the reference. "
        + (
            "Met."
            if ours["macro_f1"] >= TARGET_MACRO_F1 and ours["macro_f1"] > reference["macro_f1"]
            else f"**Not met**: {ours['macro_f1']:.4f} is "
            f"{ours['macro_f1'] - reference['macro_f1']:+.4f} against the reference but "
            f"{TARGET_MACRO_F1 - ours['macro_f1']:.4f} short of {TARGET_MACRO_F1}."
        ),
        "",
        "Reference: `FeatureUnion(TfidfVectorizer(ngram_range=(1, 2)), "
        "TfidfVectorizer(analyzer='char', ngram_range=(2, 5)))` + "
        "`LinearSVC(class_weight='balanced')`, fitted in the same run.",
        "",
        "### Reliability (ours, top-label confidence)",
        "",
        "| confidence bin | texts | mean confidence | accuracy |",
        "| --- | --- | --- | --- |",
    ]
    for row in ours["reliability"]:
        if row["count"]:
            lines.append(
                f"| {row['lower']:.1f}-{row['upper']:.1f} | {row['count']} | "
                f"{row['confidence']:.3f} | {row['accuracy']:.3f} |"
            )
    lines += [
        "",
        "### Per class (test.csv)",
        "",
        "| category | precision | recall | F1 | support | reference F1 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, row in sorted(ours["per_class"].items()):
        ref = reference["per_class"].get(label, {}).get("f1", 0.0)
        lines.append(
            f"| {label} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | "
            f"{row['support']} | {ref:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selection and the test evaluation, then write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2, help="folds fitted at once")
    parser.add_argument("--skip-cv", action="store_true", help="leave out the selection table")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "model-quality.md")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--cv-only", action="store_true", help="stop after the selection")
    parser.add_argument("--cv-json", type=Path, help="reuse selection results saved by --json")
    args = parser.parse_args(argv)
    if args.cv_json:
        cv = json.loads(args.cv_json.read_text(encoding="utf-8"))["cv"]
    else:
        cv = None if args.skip_cv else cross_validate(args.folds, args.jobs)
    if args.cv_only:
        if args.json:
            args.json.write_text(json.dumps({"cv": cv}, indent=2) + "\n", encoding="utf-8")
        return 0
    test = test_figures()
    args.out.write_text(render(cv, test, args.folds), encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps({"cv": cv, "test": test}, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
