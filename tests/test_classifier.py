"""Tests for the classifier pipeline, its predictions and their explanations."""

from __future__ import annotations

import itertools
import random
import threading

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.naive_bayes import MultinomialNB
from sklearn.svm import LinearSVC

from triage.classifier import (
    NaiveBayesSVC,
    Prediction,
    TicketDocument,
    _predict_batch,
    build_pipeline,
    predict,
    predict_proba_labels,
    tables_for,
)
from triage.text import fold
from triage.versions import demo_data

TOPICS = {
    "billing": [
        "I was charged twice on my invoice",
        "refund for the duplicate payment please",
        "Fui cobrado duas vezes na fatura",
        "quero o reembolso do pagamento duplicado",
        "the invoice amount is wrong",
        "a cobrança do cartão veio errada",
    ],
    "access": [
        "I cannot log in, the password reset does not work",
        "my account is locked after the login attempts",
        "Não consigo entrar, a senha não funciona",
        "minha conta está bloqueada no login",
        "two factor code never arrives when I sign in",
        "o código de acesso não chega",
    ],
    "outage": [
        "the whole system is down for everyone",
        "server error 500 on every page",
        "O sistema está fora do ar para todos",
        "erro 500 em todas as páginas do servidor",
        "the dashboard does not load, timeout",
        "o painel não carrega, dá timeout",
    ],
    "feature": [
        "could you add an export to spreadsheet",
        "feature request: dark mode for the app",
        "Vocês poderiam adicionar exportação para planilha",
        "sugestão: modo escuro no aplicativo",
        "it would be nice to filter reports by date",
        "seria bom filtrar relatórios por data",
    ],
}
OPENERS = ["", "Hello, ", "Olá, ", "Hi team, ", "Bom dia, "]
CLOSERS = ["", " Thanks.", " Obrigado!", " Please help.", " Por favor, ajudem."]


def bilingual_tickets(
    per_topic: int = 20, seed: int = 0
) -> tuple[list[dict], list[str], list[str]]:
    """Return records, categories and priorities of a small English/Portuguese ticket set."""
    rng = random.Random(seed)
    records, categories, priorities = [], [], []
    for topic, sentences in TOPICS.items():
        combos = list(itertools.product(sentences, OPENERS, CLOSERS))
        rng.shuffle(combos)
        for sentence, opener, closer in combos[:per_topic]:
            records.append(
                {
                    "subject": sentence.split(",")[0][:30],
                    "description": f"{opener}{sentence}.{closer}",
                    "channel": rng.choice(["email", "chat", None]),
                }
            )
            categories.append(topic)
            priorities.append("high" if topic == "outage" else "normal")
    return records, categories, priorities


def varied_records(sample: list[dict]) -> list[dict | str]:
    """Return records that stress explanations: odd, empty, repeated, long, unknown, no context."""
    long_text = " ".join(r["description"] for r in sample[:40])
    return [
        {},
        "",
        {"subject": None, "description": ""},
        {"description": "!!! --- ..."},
        {"description": "a b c"},
        {"description": "zzqx wvvkt plorbn"},  # no word the model knows
        {"description": "zzqx wvvkt plorbn", "channel": "email", "customer_tier": "enterprise"},
        {"description": "erro erro erro erro erro erro erro erro erro erro erro erro erro erro"},
        {"description": "senha senha, senha; login login! senha"},
        {"description": "the invoice, the invoice (the invoice) and THE INVOICE again"},
        {"description": "e-mail co-op re-send _underscored_ snake_case ctx_channel_email"},
        {"description": "Não consigo pagar a fatura... A fatura está errada!!"},
        {"description": "日本語 テキスト and ünïcödé wörds"},
        {"subject": "Sistema fora do ar", "description": long_text},
        {"subject": long_text, "description": long_text, "impact": "department"},
        "a plain string with the invoice and the password",
        *(
            {key: value for key, value in r.items() if key in ("subject", "description")}
            for r in sample[:20]  # the same tickets without their context fields
        ),
        *sample,
    ]


def assert_single_record_path_matches_batch(model, records) -> None:
    """Check that predicting one record alone gives the batch path's answer, reasons included."""
    compiled = tables_for(model)
    for record in records:
        for top_k, explain in [(3, 5), (100, 1000)]:  # explain=1000: every positive term
            [single] = predict(model, [record], top_k=top_k, explain=explain)
            [batch] = _predict_batch(compiled, [record], top_k=top_k, explain=explain)
            assert single.label == batch.label, record
            assert [c for c, _ in single.alternatives] == [c for c, _ in batch.alternatives]
            assert [t for t, _ in single.explanation] == [t for t, _ in batch.explanation], record
            np.testing.assert_allclose(
                [single.confidence, *(p for _, p in single.alternatives)],
                [batch.confidence, *(p for _, p in batch.alternatives)],
                rtol=0,
                atol=1e-9,
            )
            np.testing.assert_allclose(
                [w for _, w in single.explanation] or [0.0],
                [w for _, w in batch.explanation] or [0.0],
                rtol=0,
                atol=1e-9,
            )
        labels, confidences = predict_proba_labels(model, [record])
        assert labels == [single.label]
        assert confidences[0] == pytest.approx(single.confidence, rel=0, abs=1e-9)


@pytest.fixture(scope="module")
def tickets():
    return bilingual_tickets()


@pytest.fixture(scope="module")
def demo_tickets():
    return demo_data()


@pytest.fixture(scope="module")
def category_model(tickets):
    records, categories, _ = tickets
    return build_pipeline(context_fields=("channel",)).fit(records, categories)


def test_document_is_folded_text_with_context_tokens():
    document = TicketDocument(context_fields=("channel", "customer_tier", "impact"))
    document.fit([])
    records = [
        {"subject": "Não CONSIGO", "description": "pagar  a fatura", "channel": "E-mail"},
        {"description": None, "channel": None},
        {"subject": "Only subject"},
        "a plain string",
    ]
    assert document.transform(records) == [
        "nao consigo pagar a fatura\nctx_channel_e_mail",
        "",
        "only subject",
        "a plain string",
    ]


def test_document_follows_scikit_learn_estimator_rules():
    document = TicketDocument(text_fields=("description",), context_fields=("channel",))
    assert document.get_params() == {
        "text_fields": ("description",),
        "context_fields": ("channel",),
    }
    assert not hasattr(document, "text_fields_")
    with pytest.raises(NotFittedError):
        document.transform([{"description": "x"}])
    assert document.fit([{"description": "x"}]) is document
    copy = clone(document)
    assert copy.get_params() == document.get_params() and not hasattr(copy, "text_fields_")


def test_build_pipeline_rejects_unknown_hyper_parameters():
    with pytest.raises(TypeError, match="colour"):
        build_pipeline(colour="blue")


def test_predictions_have_label_probabilities_and_alternatives(tickets, category_model):
    records, categories, _ = tickets
    predictions = predict(category_model, records[:12])
    assert len(predictions) == 12
    classes = set(category_model.classes_)
    for prediction in predictions:
        assert isinstance(prediction, Prediction)
        assert prediction.label in classes
        assert 0.0 < prediction.confidence <= 1.0
        assert len(prediction.alternatives) == 3
        others = [label for label, _ in prediction.alternatives]
        assert prediction.label not in others and set(others) <= classes
        probabilities = [prediction.confidence] + [p for _, p in prediction.alternatives]
        assert probabilities == sorted(probabilities, reverse=True)
        assert sum(probabilities) == pytest.approx(1.0)  # 4 classes: top + 3 alternatives is all
    accuracy = np.mean([p.label == c for p, c in zip(predictions, categories[:12], strict=True)])
    assert accuracy >= 0.9


def test_top_k_limits_alternatives(tickets, category_model):
    records, _, _ = tickets
    [prediction] = predict(category_model, records[:1], top_k=1, explain=0)
    assert len(prediction.alternatives) == 1
    assert prediction.explanation == []


def test_fast_path_matches_scikit_learn(tickets, category_model):
    records, _, _ = tickets
    unseen = [
        {"subject": "Senha", "description": "não consigo fazer login de jeito nenhum"},
        {"description": "please add a CSV export", "channel": "chat"},
        {"description": "zzz qqq"},  # no known word
        {},
    ]
    batch = records[:20] + unseen
    expected = category_model.predict_proba(batch)
    labels, confidences = predict_proba_labels(category_model, batch)
    assert labels == category_model.classes_[expected.argmax(axis=1)].tolist()
    np.testing.assert_allclose(confidences, expected.max(axis=1), rtol=1e-9, atol=1e-12)
    single = [predict(category_model, [r])[0].confidence for r in unseen]
    np.testing.assert_allclose(single, expected[20:].max(axis=1), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("target", ["priority", "category"])
def test_one_record_alone_gets_the_batch_answer_and_reasons(demo_tickets, target):
    records, labels = demo_tickets.records, demo_tickets.labels[target]
    model = build_pipeline(context_fields=demo_tickets.context_fields).fit(
        records[:1000], labels[:1000]
    )
    assert tables_for(model).fast  # the single-record path applies
    # Unseen and seen demo tickets (pt and en), then the odd ones.
    assert_single_record_path_matches_batch(
        model, varied_records(records[1000:1250] + records[:50])
    )


def test_one_record_alone_skips_the_batch_machinery(category_model, monkeypatch):
    def batch_only(*args, **kwargs):
        raise AssertionError("the batch path ran for one record")

    monkeypatch.setattr(type(tables_for(category_model)), "features", batch_only)
    [prediction] = predict(category_model, [{"description": "refund the duplicate payment"}])
    assert prediction.label == "billing" and prediction.explanation
    with pytest.raises(AssertionError, match="batch path"):
        predict(category_model, [{"description": "refund"}, {"description": "login"}])


def test_model_understands_both_languages_without_accents(category_model):
    labels, _ = predict_proba_labels(
        category_model,
        [
            {"description": "O sistema está fora do ar"},
            {"description": "o sistema esta fora do ar"},
            {"description": "Fui cobrado duas vezes"},
            {"description": "I was charged twice"},
        ],
    )
    assert labels == ["outage", "outage", "billing", "billing"]
    first, second = predict(
        category_model,
        [{"description": "Não consigo entrar"}] * 1 + [{"description": "nao consigo entrar"}],
    )
    assert first.label == second.label == "access"
    assert first.confidence == pytest.approx(second.confidence)


def test_explanation_terms_occur_in_the_folded_text(tickets, category_model):
    records, _, _ = tickets
    for record, prediction in zip(records, predict(category_model, records), strict=True):
        text = fold(f"{record['subject']} {record['description']}")
        assert 1 <= len(prediction.explanation) <= 5
        scores = [score for _, score in prediction.explanation]
        assert scores == sorted(scores, reverse=True) and min(scores) > 0
        for term, _ in prediction.explanation:
            assert term in text, (term, text)
            assert not term.startswith("ctx_")
            assert term[0].isalnum() and term[-1].isalnum()


def test_explanation_names_the_deciding_words(category_model):
    [prediction] = predict(category_model, [{"description": "Hello, refund the duplicate payment"}])
    assert prediction.label == "billing"
    terms = " ".join(term for term, _ in prediction.explanation)
    assert "refund" in terms or "duplicate" in terms or "payment" in terms
    assert "hello" not in [term for term, _ in prediction.explanation[:1]]


def test_binary_target_explains_either_class(tickets):
    records, _, priorities = tickets
    model = build_pipeline().fit(records, priorities)
    high, normal = predict(
        model,
        [{"description": "o sistema está fora do ar"}, {"description": "add dark mode please"}],
        top_k=3,
    )
    assert (high.label, normal.label) == ("high", "normal")
    assert len(high.alternatives) == 1  # only two classes
    assert high.explanation and normal.explanation
    assert high.confidence + high.alternatives[0][1] == pytest.approx(1.0)
    assert_single_record_path_matches_batch(model, varied_records(records))


def test_other_calibration_goes_through_scikit_learn(tickets):
    records, categories, _ = tickets
    model = build_pipeline(calibration="sigmoid").fit(records, categories)
    expected = model.predict_proba(records[:5])
    labels, confidences = predict_proba_labels(model, records[:5])
    np.testing.assert_allclose(confidences, expected.max(axis=1))
    assert all(p.explanation for p in predict(model, records[:5]))
    assert not tables_for(model).fast  # so one record goes through scikit-learn too
    single = [predict(model, [r])[0].confidence for r in records[:5]]
    np.testing.assert_allclose(single, expected.max(axis=1))
    assert_single_record_path_matches_batch(model, varied_records(records[:10]))


def test_context_fields_are_features(tickets):
    records, categories, _ = tickets
    # Only the channel tells these two classes apart.
    rows = [{"description": "same words", "channel": c} for c in ["phone"] * 8 + ["web"] * 8]
    labels = ["call"] * 8 + ["online"] * 8
    model = build_pipeline(context_fields=("channel",)).fit(rows, labels)
    got, _ = predict_proba_labels(model, [{"description": "same words", "channel": "web"}])
    assert got == ["online"]
    [prediction] = predict(model, [{"description": "same words", "channel": "phone"}])
    assert prediction.label == "call"
    assert all(not term.startswith("ctx") for term, _ in prediction.explanation)


def test_concurrent_first_use_gives_the_same_answers(tickets):
    records, categories, _ = tickets
    model = build_pipeline().fit(records, categories)  # fresh: nothing cached yet
    expected = model.predict_proba(records).max(axis=1)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(np.array([p.confidence for p in predict(model, records)]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for result in results:
        np.testing.assert_allclose(result, expected, rtol=1e-9)


@pytest.mark.parametrize(
    "hyper",
    [
        {"word_ngrams": (1, 1)},
        {"word_ngrams": (1, 3)},
        {"pair_window": 0},
        {"word_min_df": 1},
        {"nb_weight": 0.0},
    ],
    ids=["unigrams", "trigrams (scikit-learn path)", "no pairs", "min_df 1", "svm alone"],
)
def test_every_configuration_predicts_like_scikit_learn(tickets, hyper):
    records, categories, _ = tickets
    model = build_pipeline(context_fields=("channel",), **hyper).fit(records, categories)
    batch = records[::3] + [{"description": "senha bloqueada, erro 500"}, {}]
    expected = model.predict_proba(batch)
    labels, confidences = predict_proba_labels(model, batch)
    assert labels == model.classes_[expected.argmax(axis=1)].tolist()
    np.testing.assert_allclose(confidences, expected.max(axis=1), rtol=1e-9, atol=1e-12)
    for record, prediction in zip(batch, predict(model, batch), strict=True):
        text = fold(f"{record.get('subject', '')} {record.get('description', '')}")
        assert all(term in text for term, _ in prediction.explanation)
    assert_single_record_path_matches_batch(model, varied_records(records[::4]))


def test_training_is_reproducible(tickets):
    records, categories, _ = tickets
    first = build_pipeline().fit(records, categories).predict_proba(records)
    second = build_pipeline().fit(records, categories).predict_proba(records)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_naive_bayes_svc_ranks_like_svm_plus_naive_bayes(tickets, n_classes):
    records, categories, _ = tickets
    keep = [i for i, c in enumerate(categories) if c in sorted(set(categories))[:n_classes]]
    features = build_pipeline()[:2].fit([records[i] for i in keep])
    X = features.transform([records[i] for i in keep])
    y = np.asarray([categories[i] for i in keep])
    merged = NaiveBayesSVC(nb_alpha=0.5, nb_weight=0.4).fit(X, y)
    svm = LinearSVC(class_weight="balanced", random_state=0).fit(X, y)
    nb = MultinomialNB(alpha=0.5).fit(X, y)
    svm_scores = svm.decision_function(X)
    if n_classes == 2:
        svm_scores = np.column_stack([-svm_scores, svm_scores]) / 2
    expected = svm_scores + 0.4 * nb.predict_joint_log_proba(X)
    scores = merged.decision_function(X)
    if n_classes == 2:
        scores = np.column_stack([-scores, scores]) / 2
    # Equal up to one shift per text, which neither the ranking nor a softmax sees.
    np.testing.assert_allclose(
        scores - scores.mean(axis=1, keepdims=True),
        expected - expected.mean(axis=1, keepdims=True),
        atol=1e-9,
    )
    assert merged.predict(X).tolist() == svm.classes_[expected.argmax(axis=1)].tolist()
    assert merged.score(X, y) > 0.9
