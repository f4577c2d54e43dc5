"""The ticket classifier: one scikit-learn pipeline per target, predictions with reasons."""

from __future__ import annotations

import re
import threading
import weakref
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from triage.text import fold

Record = Mapping[str, Any] | str

# Chosen by 5-fold cross-validation on banking77's train.csv (see docs/model-quality.md).
DEFAULTS: dict[str, Any] = {
    "word_ngrams": (1, 2),
    "pair_window": 12,
    "char_ngrams": (2, 5),
    "char_analyzer": "char_wb",
    "C": 1.0,
    "class_weight": "balanced",
    "calibration": "temperature",
    "calibration_cv": 3,
}
CONTEXT_PREFIX = "ctx_"
_SEPARATOR = "\n"  # fold() turns every whitespace run into one space, so text never holds it
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_SLUG = re.compile(r"[^a-z0-9]+")
_WHITE = re.compile(r"\s\s+")


class TicketDocument(TransformerMixin, BaseEstimator):
    """Turn ticket records into one folded document each, with context values as ctx_ tokens."""

    def __init__(
        self,
        text_fields: Sequence[str] = ("subject", "description"),
        context_fields: Sequence[str] = (),
    ):
        self.text_fields = text_fields
        self.context_fields = context_fields

    def fit(self, X: Sequence[Record], y: Any = None) -> TicketDocument:
        """Record the fields to read; there is nothing to learn."""
        self.text_fields_ = tuple(self.text_fields)
        self.context_fields_ = tuple(self.context_fields)
        return self

    def transform(self, X: Sequence[Record]) -> list[str]:
        """Return one document per record: folded text, then a line of context tokens."""
        text_fields = self.text_fields_
        context_fields = self.context_fields_
        documents = []
        for record in X:
            if isinstance(record, str):
                documents.append(fold(record))
                continue
            text = fold(" ".join(str(record[f]) for f in text_fields if record.get(f)))
            tokens = [
                f"{CONTEXT_PREFIX}{field}_{_slug(record[field])}"
                for field in context_fields
                if record.get(field) not in (None, "")
            ]
            documents.append(f"{text}{_SEPARATOR}{' '.join(tokens)}" if tokens else text)
        return documents

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Return the single output column's name."""
        return np.asarray(["document"], dtype=object)

    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.dict = True
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags


def _slug(value: Any) -> str:
    """Return a context value as one token: folded, non-alphanumerics as underscores."""
    return _SLUG.sub("_", fold(str(value))).strip("_") or "blank"


def text_part(document: str) -> str:
    """Return the free-text part of a document, without the context tokens."""
    return document.split(_SEPARATOR, 1)[0]


class WordFeatures:
    """Analyzer for the word block: n-grams, unordered word pairs within a window, context tokens.

    Word pairs let a linear model see two words together anywhere in a short text ("card" with
    "arrived"), which on banking77 lifted cross-validated macro-F1 by about 0.8 points.
    """

    def __init__(self, ngram_range: tuple[int, int] = (1, 2), pair_window: int = 12):
        self.ngram_range = ngram_range
        self.pair_window = pair_window

    def __call__(self, document: str) -> list[str]:
        """Return the word features of one document."""
        text, _, context = document.partition(_SEPARATOR)
        tokens = _TOKEN.findall(text)
        features: list[str] = []
        low, high = self.ngram_range
        for n in range(low, high + 1):
            features.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
        for i, j in self.pairs(len(tokens)):
            features.append(_pair(tokens[i], tokens[j]))
        features.extend(context.split())
        return features

    def pairs(self, n_tokens: int) -> list[tuple[int, int]]:
        """Return the token index pairs (i, j) that form pair features, adjacent ones left to bigrams."""
        first = 2 if self.ngram_range[1] >= 2 else 1
        window = self.pair_window
        return [
            (i, j)
            for i in range(n_tokens)
            for j in range(i + first, min(n_tokens, i + window + 1))
        ]

    def __repr__(self) -> str:
        return f"WordFeatures(ngram_range={self.ngram_range!r}, pair_window={self.pair_window!r})"


def _pair(a: str, b: str) -> str:
    """Return the feature name of an unordered word pair."""
    return f"{a}|{b}" if a <= b else f"{b}|{a}"


def build_pipeline(
    *,
    text_fields: Sequence[str] = ("subject", "description"),
    context_fields: Sequence[str] = (),
    **hyper: Any,
) -> Pipeline:
    """Return the unfitted per-target pipeline: document, word+char TF-IDF, calibrated linear SVM."""
    unknown = set(hyper) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown hyper-parameters: {', '.join(sorted(unknown))}")
    p = {**DEFAULTS, **hyper}
    words = TfidfVectorizer(
        lowercase=False,
        analyzer=WordFeatures(tuple(p["word_ngrams"]), p["pair_window"]),
        sublinear_tf=True,
    )
    chars = TfidfVectorizer(
        lowercase=False,
        preprocessor=text_part,
        analyzer=p["char_analyzer"],
        ngram_range=tuple(p["char_ngrams"]),
        sublinear_tf=True,
    )
    model = CalibratedClassifierCV(
        LinearSVC(C=p["C"], class_weight=p["class_weight"]),
        method=p["calibration"],
        cv=p["calibration_cv"],
        ensemble=False,
    )
    return Pipeline(
        [
            ("document", TicketDocument(tuple(text_fields), tuple(context_fields))),
            ("features", FeatureUnion([("words", words), ("chars", chars)])),
            ("model", model),
        ]
    )


@dataclass(frozen=True)
class Prediction:
    """A predicted label with its probability, the runners-up and the words that argued for it."""

    label: str
    confidence: float
    alternatives: list[tuple[str, float]]
    explanation: list[tuple[str, float]]


def predict_proba_labels(
    pipeline: Pipeline, records: Sequence[Record]
) -> tuple[list[str], np.ndarray]:
    """Return the top label and its probability for each record, without explanations."""
    proba = pipeline.predict_proba(records)
    best = proba.argmax(axis=1)
    labels = pipeline.classes_[best].tolist()
    return labels, proba[np.arange(len(best)), best]


def predict(
    pipeline: Pipeline, records: Sequence[Record], *, top_k: int = 3, explain: int = 5
) -> list[Prediction]:
    """Return a Prediction per record, with top_k alternatives and up to explain reasons."""
    explainer = _explainer(pipeline)
    documents = pipeline[0].transform(records)
    features = pipeline[1].transform(documents)
    proba = pipeline[-1].predict_proba(features)
    classes = explainer.classes
    predictions = []
    for i, row in enumerate(proba):
        order = np.argsort(-row, kind="stable")
        best = int(order[0])
        reasons = explainer.explain(documents[i], features[i], best, explain) if explain else []
        predictions.append(
            Prediction(
                label=classes[best],
                confidence=float(row[best]),
                alternatives=[(classes[j], float(row[j])) for j in order[1 : 1 + top_k]],
                explanation=reasons,
            )
        )
    return predictions


class _Explainer:
    """Per-pipeline lookups that turn weights times features into words of the input text."""

    def __init__(self, pipeline: Pipeline):
        union = pipeline[1]
        words = union.named_transformers["words"]
        chars = union.named_transformers["chars"]
        model = pipeline[-1]
        self.classes: list[str] = [str(c) for c in model.classes_]
        self.word_vocabulary: dict[str, int] = words.vocabulary_
        self.word_features: WordFeatures = words.analyzer
        self.char_vocabulary: dict[str, int] = chars.vocabulary_
        self.char_ngrams: tuple[int, int] = chars.ngram_range
        self.char_analyzer: str = chars.analyzer
        self.char_offset = len(words.vocabulary_)
        self.coef = _class_weights(model)

    def explain(self, document: str, row: Any, label: int, limit: int) -> list[tuple[str, float]]:
        """Return up to limit (term, contribution) pairs of the text that most raise the label."""
        weights = self.coef[label]
        values = dict(zip(row.indices.tolist(), (row.data * weights[row.indices]).tolist()))
        text = text_part(document)
        scores: dict[str, float] = {}
        self._add_words(text, values, scores)
        self._add_chars(text, values, scores)
        ranked = sorted(((s, t) for t, s in scores.items() if s > 0), reverse=True)
        return [(term, score) for score, term in ranked[:limit]]

    def _add_words(self, text: str, values: dict[int, float], scores: dict[str, float]) -> None:
        """Credit word n-gram features to the phrase of the text they were built from."""
        matches = list(_TOKEN.finditer(text))
        vocabulary = self.word_vocabulary
        low, high = self.word_features.ngram_range
        seen: set[int] = set()
        for n in range(low, high + 1):
            for i in range(len(matches) - n + 1):
                group = matches[i : i + n]
                index = vocabulary.get(" ".join(m.group() for m in group))
                if index is None or index in seen or index not in values:
                    continue
                seen.add(index)  # a repeated n-gram is one feature: credit its first phrase once
                phrase = text[group[0].start() : group[-1].end()]
                scores[phrase] = scores.get(phrase, 0.0) + values[index]
        for i, j in self.word_features.pairs(len(matches)):
            a, b = matches[i].group(), matches[j].group()
            index = vocabulary.get(_pair(a, b))
            if index is None or index in seen or index not in values:
                continue
            seen.add(index)  # a pair is no phrase of the text, so each of its words gets half
            scores[a] = scores.get(a, 0.0) + values[index] / 2
            scores[b] = scores.get(b, 0.0) + values[index] / 2

    def _add_chars(self, text: str, values: dict[int, float], scores: dict[str, float]) -> None:
        """Share each character n-gram's contribution among the words that contain it."""
        text = _WHITE.sub(" ", text)
        low, high = self.char_ngrams
        occurrences: list[tuple[int, list[str]]] = []
        if self.char_analyzer == "char_wb":
            for chunk in text.split():
                word = _strip_word(chunk)
                if not word:
                    continue
                padded = f" {chunk} "
                for n in range(low, high + 1):
                    for s in range(len(padded) - n + 1):
                        index = self.char_vocabulary.get(padded[s : s + n])
                        if index is not None:
                            occurrences.append((index, [word]))
        else:
            spans = [(m.start(), m.end(), _strip_word(m.group())) for m in re.finditer(r"\S+", text)]
            for n in range(low, high + 1):
                for s in range(len(text) - n + 1):
                    index = self.char_vocabulary.get(text[s : s + n])
                    if index is None:
                        continue
                    covered = [w for a, b, w in spans if a < s + n and s < b and w]
                    if covered:
                        occurrences.append((index, covered))
        counts = Counter(index for index, _ in occurrences)
        offset = self.char_offset
        for index, words in occurrences:
            value = values.get(offset + index)
            if value:
                share = value / counts[index] / len(words)
                for word in words:
                    scores[word] = scores.get(word, 0.0) + share


def _strip_word(chunk: str) -> str:
    """Return a whitespace-separated chunk without punctuation at its ends."""
    start, end = 0, len(chunk)
    while start < end and not chunk[start].isalnum():
        start += 1
    while end > start and not chunk[end - 1].isalnum():
        end -= 1
    return chunk[start:end]


def _class_weights(model: Any) -> np.ndarray:
    """Return a dense (n_classes, n_features) weight matrix of the linear model behind the calibration."""
    estimators = [c.estimator for c in getattr(model, "calibrated_classifiers_", [])] or [model]
    coef = np.mean([np.asarray(e.coef_, dtype=np.float64) for e in estimators], axis=0)
    if coef.shape[0] == 1:  # binary: one weight vector that argues for classes_[1]
        coef = np.vstack([-coef[0], coef[0]])
    return coef


_EXPLAINERS: weakref.WeakKeyDictionary[Pipeline, _Explainer] = weakref.WeakKeyDictionary()
_EXPLAINERS_LOCK = threading.Lock()


def _explainer(pipeline: Pipeline) -> _Explainer:
    """Return the pipeline's cached explainer, building it once under a lock."""
    explainer = _EXPLAINERS.get(pipeline)
    if explainer is None:
        with _EXPLAINERS_LOCK:
            explainer = _EXPLAINERS.get(pipeline)
            if explainer is None:
                explainer = _EXPLAINERS[pipeline] = _Explainer(pipeline)
    return explainer
