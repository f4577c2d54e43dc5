"""Tests for loading training data, training, evaluation and the confusion plot."""

from __future__ import annotations

import csv
import itertools
import random

import numpy as np
import pytest

from triage.classifier import build_pipeline, predict
from triage.training import (
    TrainingData,
    TrainingDataError,
    calibration,
    evaluate,
    load_csv,
    plot_confusion,
    read_records,
    train,
)

SENTENCES = {
    ("Faturamento", "Média"): [
        "Fui cobrado duas vezes na fatura",
        "I was charged twice on my invoice",
        "quero reembolso do pagamento duplicado",
        "refund the duplicate payment",
    ],
    ("Acesso", "Média"): [
        "Não consigo entrar, a senha não funciona",
        "I cannot log in, password reset fails",
        "minha conta está bloqueada",
        "my account is locked",
    ],
    ("Indisponibilidade", "Alta"): [
        "O sistema está fora do ar",
        "the whole system is down",
        "erro 500 em todas as páginas",
        "server error 500 on every page",
    ],
}
HEADER = ["Assunto", "Corpo", "Área", "Prioridade", "Canal"]


def ticket_rows(per_class: int = 15, seed: int = 0) -> list[dict[str, str]]:
    """Return CSV rows with Portuguese column names and bilingual ticket text."""
    rng = random.Random(seed)
    rows = []
    for (area, priority), sentences in SENTENCES.items():
        combos = list(itertools.product(sentences, ["", "Olá, ", "Hello, ", "Oi, "], ["", "!"]))
        rng.shuffle(combos)
        for sentence, opener, closer in combos[:per_class]:
            rows.append(
                {
                    "Assunto": sentence.split(",")[0][:25],
                    "Corpo": f"{opener}{sentence}{closer}",
                    "Área": area,
                    "Prioridade": priority,
                    "Canal": rng.choice(["email", "chat"]),
                }
            )
    rng.shuffle(rows)
    return rows


def write_csv(path, rows, header=HEADER, bom=False):
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def load(path, **overrides):
    arguments = {
        "text_columns": ["Assunto", "Corpo"],
        "category_column": "Área",
        "priority_column": "Prioridade",
        "context_columns": {"Canal": "channel"},
    }
    arguments.update(overrides)
    return load_csv(path, **arguments)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = write_csv(tmp_path_factory.mktemp("csv") / "tickets.csv", ticket_rows(), bom=True)
    return load(path)


@pytest.fixture(scope="module")
def trained(data):
    steps = []
    result = train(data, progress=lambda step, fraction: steps.append((step, fraction)))
    return result, steps


def test_csv_with_user_column_names_maps_to_records(data):
    assert len(data) == 45
    first = data.records[0]
    assert set(first) == {"subject", "description", "channel"}
    assert first["subject"] and first["description"].endswith(first["description"].strip())
    assert first["channel"] in {"email", "chat"}
    assert data.targets == ("priority", "category")
    assert set(data.labels["category"]) == {"Faturamento", "Acesso", "Indisponibilidade"}
    assert set(data.labels["priority"]) == {"Média", "Alta"}
    assert data.context_fields == ("channel",)
    assert data.columns["targets"] == {"priority": "Prioridade", "category": "Área"}
    assert len(data.fingerprint) == 64


def test_one_text_column_becomes_description_and_extra_ones_join_it(tmp_path):
    rows = ticket_rows()
    path = write_csv(tmp_path / "t.csv", rows)
    single = load(path, text_columns=["Corpo"], priority_column=None, context_columns=())
    assert single.records[0] == {"subject": "", "description": rows[0]["Corpo"]}
    assert single.targets == ("category",)
    three = load(path, text_columns=["Área", "Assunto", "Corpo"], priority_column=None)
    assert three.records[0]["subject"] == rows[0]["Área"]
    assert three.records[0]["description"] == f"{rows[0]['Assunto']}\n{rows[0]['Corpo']}"


def test_fingerprint_follows_the_rows(tmp_path):
    rows = ticket_rows()
    same = load(write_csv(tmp_path / "a.csv", rows)).fingerprint
    assert load(write_csv(tmp_path / "b.csv", rows, bom=True)).fingerprint == same
    rows[3] = {**rows[3], "Prioridade": "Alta" if rows[3]["Prioridade"] == "Média" else "Média"}
    assert load(write_csv(tmp_path / "c.csv", rows)).fingerprint != same


def bad_rows(change):
    rows = ticket_rows()
    change(rows)
    return rows


@pytest.mark.parametrize(
    ("rows", "header", "overrides", "row", "column", "message"),
    [
        (
            ticket_rows(),
            ["Assunto", "Corpo", "Área", "Canal"],
            {},
            1,
            "Prioridade",
            "available columns are: Assunto, Corpo, Área, Canal",
        ),
        (
            bad_rows(lambda r: r[6].update(Assunto="", Corpo="   ")),
            HEADER,
            {},
            8,
            "Assunto",
            "empty text",
        ),
        (bad_rows(lambda r: r[9].update(Área=" ")), HEADER, {}, 11, "Área", "empty label"),
        (
            bad_rows(lambda r: [row.update(Área="Acesso") for row in r]),
            HEADER,
            {},
            None,
            "Área",
            "only one class ('Acesso')",
        ),
        (
            bad_rows(lambda r: [r[i].update(Área="Raro") for i in (4, 20, 30)]),
            HEADER,
            {},
            6,
            "Área",
            "class 'Raro' has 3 rows, fewer than the minimum of 5",
        ),
        (
            bad_rows(lambda r: [r[i].update(Área="Raro") for i in (4, 20, 30)]),
            HEADER,
            {"min_class_rows": 4},
            6,
            "Área",
            "class 'Raro' has 3 rows, fewer than the minimum of 4",
        ),
        (
            ticket_rows(),
            HEADER,
            {"priority_column": None, "category_column": None},
            None,
            None,
            "no target column given",
        ),
    ],
    ids=[
        "missing column",
        "empty text",
        "empty label",
        "one class",
        "rare class",
        "rare class custom minimum",
        "no target",
    ],
)
def test_bad_data_names_row_and_column(tmp_path, rows, header, overrides, row, column, message):
    rows = [{k: v for k, v in r.items() if k in header} for r in rows]
    path = write_csv(tmp_path / "bad.csv", rows, header=header)
    with pytest.raises(TrainingDataError) as caught:
        load(path, **overrides)
    error = caught.value
    assert (error.row, error.column) == (row, column)
    assert message in str(error)
    if row is not None:
        assert f"row {row}" in str(error)
    if column is not None:
        assert repr(column) in str(error)


def test_row_numbers_are_csv_lines_even_with_multiline_cells(tmp_path):
    rows = ticket_rows()
    rows[0]["Corpo"] = "first line\nsecond line\nthird line"
    rows[2]["Área"] = ""
    path = write_csv(tmp_path / "multi.csv", rows)
    with pytest.raises(TrainingDataError) as caught:
        load(path)
    assert caught.value.row == 6  # header, a 3-line row, one more row, then this one


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf"], ids=["empty", "bom only"])
def test_empty_file_is_refused(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(TrainingDataError, match="file is empty"):
        load(path)


def test_header_only_and_missing_file_are_refused(tmp_path):
    with pytest.raises(TrainingDataError, match="no data rows"):
        load(write_csv(tmp_path / "header.csv", []))
    with pytest.raises(TrainingDataError, match="file not found"):
        load(tmp_path / "nope.csv")


def test_row_with_too_many_fields_is_refused(tmp_path):
    path = write_csv(tmp_path / "t.csv", ticket_rows())
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] += ",extra"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(TrainingDataError) as caught:
        load(path)
    assert caught.value.row == 4


def test_from_rows_numbers_rows_by_position():
    rows = ticket_rows()
    data = TrainingData.from_rows(
        rows, text_columns=["Corpo"], category_column="Área", source="tickets table"
    )
    assert data.source == "tickets table" and len(data) == len(rows)
    rows[11] = {**rows[11], "Área": None}
    with pytest.raises(TrainingDataError) as caught:
        TrainingData.from_rows(rows, text_columns=["Corpo"], category_column="Área")
    assert (caught.value.row, caught.value.column) == (12, "Área")


def test_train_fits_every_target_and_reports_progress(data, trained):
    result, steps = trained
    assert set(result.pipelines) == {"priority", "category"}
    fractions = [fraction for _, fraction in steps]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert any("category" in step for step, _ in steps)
    for target in ("priority", "category"):
        metrics = result.metrics[target]
        assert metrics["n"] == 9  # 20% of 45, stratified
        assert sum(r["support"] for r in metrics["per_class"].values()) == 9
        assert metrics["macro_f1"] >= 0.6
    assert result.training["fingerprint"] == data.fingerprint
    assert result.training["rows"] == 45
    [prediction] = predict(
        result.pipelines["category"],
        [{"description": "o sistema está fora do ar", "channel": "chat"}],
    )
    assert prediction.label == "Indisponibilidade"


def test_evaluate_reports_scores_calibration_and_confusion(data):
    records, labels = data.records, data.labels["category"]
    model = build_pipeline().fit(records[:36], labels[:36])
    metrics = evaluate(model, records[36:], labels[36:])
    assert set(metrics) >= {"accuracy", "macro_f1", "weighted_f1", "per_class", "ece"}
    assert 0.0 <= metrics["ece"] <= 1.0
    assert len(metrics["reliability"]) == 10
    assert sum(row["count"] for row in metrics["reliability"]) == 9
    matrix = np.asarray(metrics["confusion"]["matrix"])
    assert matrix.sum() == 9 and np.trace(matrix) == round(metrics["accuracy"] * 9)
    assert metrics["confusion"]["labels"] == sorted(set(labels))
    for row in metrics["per_class"].values():
        assert set(row) == {"precision", "recall", "f1", "support"}


def test_calibration_error_by_hand():
    confidence = np.array([0.95, 0.95, 0.55, 0.55, 0.0])
    correct = np.array([True, False, True, True, False])
    ece, table = calibration(confidence, correct)
    # bin 0.9-1.0: conf 0.95, acc 0.5; bin 0.5-0.6: conf 0.55, acc 1.0; bin 0-0.1: conf 0, acc 0
    assert ece == pytest.approx(2 / 5 * 0.45 + 2 / 5 * 0.45 + 0)
    assert table[9]["count"] == 2 and table[9]["accuracy"] == 0.5
    assert table[0]["count"] == 1 and table[3]["count"] == 0 and table[3]["accuracy"] is None


@pytest.mark.parametrize("n_classes", [3, 77])
def test_plot_confusion_writes_a_png(tmp_path, n_classes):
    labels = [f"category_number_{i}" for i in range(n_classes)]
    matrix = np.eye(n_classes, dtype=int) * 40
    matrix[0, 1] = 3
    metrics = {
        "accuracy": 0.98,
        "macro_f1": 0.97,
        "confusion": {"labels": labels, "matrix": matrix.tolist()},
    }
    path = plot_confusion(metrics, tmp_path / "confusion.png")
    header = path.read_bytes()[:8]
    assert header == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 5_000


def test_read_records_keeps_raw_rows_and_maps_like_load_csv(tmp_path):
    rows = ticket_rows()
    rows[2]["Corpo"] = ""  # scoring tolerates rows a training set would refuse
    path = write_csv(tmp_path / "score.csv", rows, bom=True)
    raw, records = read_records(path, text_columns=["Assunto", "Corpo"], context_columns=["Canal"])
    assert raw.fieldnames == HEADER
    assert raw.rows[0] == [rows[0][column] for column in HEADER]
    assert len(records) == len(rows)
    assert records[0] == {
        "subject": rows[0]["Assunto"],
        "description": rows[0]["Corpo"],
        "Canal": rows[0]["Canal"],
    }
    assert records[2]["description"] == ""
    with pytest.raises(TrainingDataError) as caught:
        read_records(path, text_columns=["Texto"])
    assert (caught.value.row, caught.value.column) == (1, "Texto")
