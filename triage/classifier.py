"""The ticket classifier: one scikit-learn pipeline per target, predictions with reasons."""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
from joblib import parallel_config
from scipy.sparse import csr_matrix
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

# Re-exported: artifacts pickled before the split name these as triage.classifier attributes.
from triage.features import (  # noqa: F401
    _SEPARATOR,
    _TOKEN,
    CONTEXT_PREFIX,
    Record,
    TicketDocument,
    WordFeatures,
    _pair,
    text_part,
)

# Chosen by 5-fold cross-validation on banking77's train.csv (see docs/model-quality.md).
DEFAULTS: dict[str, Any] = {
    "word_ngrams": (1, 2),
    "pair_window": 12,
    "word_min_df": 2,
    "char_ngrams": (2, 4),
    "C": 1.0,
    "class_weight": "balanced",
    "nb_alpha": 0.01,
    "nb_weight": 0.03,
    "calibration": "temperature",
    "calibration_cv": 2,
}


class NaiveBayesSVC(ClassifierMixin, BaseEstimator):
    """A LinearSVC whose class scores add a scaled naive Bayes log-likelihood: one linear model.

    Multinomial naive Bayes is linear in the features too, so the sum keeps one weight per
    (class, feature) and explanations stay readable; on banking77 the mix lifted cross-validated
    macro-F1 by about 0.3 points at almost no cost (nb_weight=0 is a plain LinearSVC).
    """

    def __init__(
        self,
        C: float = 1.0,
        class_weight: str | dict | None = "balanced",
        nb_alpha: float = 0.01,
        nb_weight: float = 0.03,
    ):
        self.C = C
        self.class_weight = class_weight
        self.nb_alpha = nb_alpha
        self.nb_weight = nb_weight

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> NaiveBayesSVC:
        """Fit the LinearSVC and the naive Bayes model, then merge their weights."""
        svm = LinearSVC(C=self.C, class_weight=self.class_weight, random_state=0)
        svm.fit(X, y, sample_weight=sample_weight)
        self.classes_ = svm.classes_
        self.n_features_in_ = svm.n_features_in_
        coef, intercept = svm.coef_.copy(), svm.intercept_.copy()
        if self.nb_weight:
            nb = MultinomialNB(alpha=self.nb_alpha).fit(X, y, sample_weight=sample_weight)
            # Centred per feature across classes: softmax and argmax ignore a shared offset, and
            # centring keeps a word's weight about this class against the others (explanations).
            log_likelihood = nb.feature_log_prob_ - nb.feature_log_prob_.mean(axis=0)
            log_prior = nb.class_log_prior_ - nb.class_log_prior_.mean()
            if len(self.classes_) == 2:  # LinearSVC keeps one row, arguing for classes_[1]
                log_likelihood = (log_likelihood[1] - log_likelihood[0])[None, :]
                log_prior = np.array([log_prior[1] - log_prior[0]])
            coef += self.nb_weight * log_likelihood
            intercept += self.nb_weight * log_prior
        self.coef_, self.intercept_ = coef, intercept
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Return the merged linear scores, one column per class (one value for two classes)."""
        check_is_fitted(self)
        scores = np.asarray(X @ self.coef_.T) + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X: Any) -> np.ndarray:
        """Return the class with the highest merged score."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[scores.argmax(axis=1)]


def build_pipeline(
    *,
    text_fields: Sequence[str] = ("subject", "description"),
    context_fields: Sequence[str] = (),
    **hyper: Any,
) -> Pipeline:
    """Return the unfitted per-target pipeline: document, word+char TF-IDF, calibrated SVM + NB.

    Hyper-parameters (defaults in DEFAULTS): word_ngrams, pair_window (0 turns word pairs off),
    char_ngrams (char_wb), C and class_weight of the LinearSVC, nb_alpha and nb_weight of the
    naive Bayes scores added to it (NaiveBayesSVC), calibration (a
    CalibratedClassifierCV method; "temperature" keeps the ranking) and calibration_cv.
    """
    unknown = set(hyper) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown hyper-parameters: {', '.join(sorted(unknown))}")
    p = {**DEFAULTS, **hyper}
    words = TfidfVectorizer(
        lowercase=False,
        analyzer=WordFeatures(tuple(p["word_ngrams"]), p["pair_window"]),
        min_df=p["word_min_df"],
        sublinear_tf=True,
    )
    chars = TfidfVectorizer(
        lowercase=False,
        preprocessor=text_part,
        analyzer="char_wb",
        ngram_range=tuple(p["char_ngrams"]),
        sublinear_tf=True,
    )
    model = CalibratedClassifierCV(
        NaiveBayesSVC(p["C"], p["class_weight"], p["nb_alpha"], p["nb_weight"]),
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


def fit_pipeline(
    pipeline: Pipeline, records: Sequence[Record], labels: Sequence[str], *, n_jobs: int = 2
) -> Pipeline:
    """Fit the pipeline with its calibration folds on n_jobs threads (liblinear frees the GIL)."""
    with parallel_config(backend="threading", n_jobs=n_jobs):
        return pipeline.fit(records, labels)


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
    compiled = _compiled(pipeline)
    _, features = compiled.features(records)
    proba = compiled.proba(features)
    best = proba.argmax(axis=1)
    return [compiled.classes[i] for i in best], proba[np.arange(len(best)), best]


def predict(
    pipeline: Pipeline, records: Sequence[Record], *, top_k: int = 3, explain: int = 5
) -> list[Prediction]:
    """Return a Prediction per record, with top_k alternatives and up to explain reasons."""
    compiled = _compiled(pipeline)
    documents, features = compiled.features(records)
    proba = compiled.proba(features)
    classes = compiled.classes
    predictions = []
    for i, row in enumerate(proba):
        order = np.argsort(-row, kind="stable")
        best = int(order[0])
        span = slice(features.indptr[i], features.indptr[i + 1])
        reasons = (
            compiled.explain(
                documents[i], features.indices[span], features.data[span], best, explain
            )
            if explain > 0
            else []
        )
        predictions.append(
            Prediction(
                label=classes[best],
                confidence=float(row[best]),
                alternatives=[(classes[j], float(row[j])) for j in order[1 : 1 + top_k]],
                explanation=reasons,
            )
        )
    return predictions


class _Compiled:
    """A fitted pipeline's lookup tables for fast inference and explanations, built once.

    For pipelines made by build_pipeline with temperature calibration the features and
    probabilities are computed here with the same formulas as scikit-learn (counts, 1 + log tf,
    idf, l2 per block, weights, softmax(beta * logits)) but without its per-call validation,
    which costs milliseconds for one ticket; other pipelines go through scikit-learn.
    """

    _CHUNK_CACHE_SIZE = 200_000

    def __init__(self, pipeline: Pipeline):
        document, union, model = pipeline[0], pipeline[1], pipeline[-1]
        words = union.named_transformers["words"]
        chars = union.named_transformers["chars"]
        self.pipeline = pipeline
        self.classes: list[str] = [str(c) for c in model.classes_]
        self.document: TicketDocument = document
        self.word_features: WordFeatures = words.analyzer
        self.word_vocabulary: dict[str, int] = words.vocabulary_
        self.char_vocabulary: dict[str, int] = chars.vocabulary_
        self.char_analyzer = chars.build_analyzer()
        self.offset = len(words.vocabulary_)
        self.n_features = self.offset + len(chars.vocabulary_)
        self.idf = np.concatenate([words.idf_, chars.idf_])
        self.coef, intercept = _linear_weights(model)
        self.intercept = intercept
        self.beta = _temperature(model)
        self.fast = (
            self.beta is not None
            and all(v.sublinear_tf and v.use_idf and v.norm == "l2" for v in (words, chars))
            and union.transformer_weights is None
            and self.word_features.ngram_range in ((1, 1), (1, 2))
        )
        self.word_table = _WordTable(words.vocabulary_, self.word_features) if self.fast else None
        # One row per feature, so a ticket's logits read only the rows of its features.
        self.coef_rows = np.ascontiguousarray(self.coef.T) if self.fast else None
        self._chunks: dict[str, list[int]] = {}

    def chunk_features(self, chunk: str) -> list[int]:
        """Return the feature indices of one whitespace-separated chunk's char n-grams, cached."""
        found = self._chunks.get(chunk)
        if found is None:
            vocabulary, offset = self.char_vocabulary, self.offset
            found = [offset + vocabulary[g] for g in self.char_analyzer(chunk) if g in vocabulary]
            if len(self._chunks) >= self._CHUNK_CACHE_SIZE:
                self._chunks = {}  # bounded memory; a rebuilt entry is identical
            self._chunks[chunk] = found
        return found

    def features(self, records: Sequence[Record]) -> tuple[list[str], csr_matrix]:
        """Return the documents and their TF-IDF rows, equal to the pipeline's features step."""
        documents = self.document.transform(records)
        if not self.fast:
            return documents, csr_matrix(self.pipeline[1].transform(documents))
        token = self.word_table.tokens.get
        lookup = self.word_vocabulary.get
        chunks = self._chunks
        missing = repeat(-1)
        tokens: list[int] = []  # token ids of every text, -1 for words the model never saw
        n_tokens: list[int] = []
        others: list[int] = []  # columns of context tokens and char n-grams, -1 when unknown
        n_others: list[int] = []
        for document in documents:
            text, _, context = document.partition(_SEPARATOR)
            words = _TOKEN.findall(text)
            tokens += map(token, words, missing)
            n_tokens.append(len(words))
            before = len(others)
            if context:
                others += map(lookup, context.split(), missing)
            for chunk in text.split():
                found = chunks.get(chunk)
                others += self.chunk_features(chunk) if found is None else found
            n_others.append(len(others) - before)
        word_rows, word_columns = self.word_table.columns(
            np.asarray(tokens, dtype=np.int64), np.asarray(n_tokens, dtype=np.int64)
        )
        rows = np.concatenate([word_rows, np.repeat(np.arange(len(documents)), n_others)])
        columns = np.concatenate([word_columns, np.asarray(others, dtype=np.int64)])
        known = columns >= 0
        shape = (len(documents), self.n_features)
        # Building CSR from (row, column) pairs sums repeated pairs: the term counts.
        matrix = csr_matrix((np.ones(int(known.sum())), (rows[known], columns[known])), shape=shape)
        matrix.sum_duplicates()
        data, columns = matrix.data, matrix.indices
        data = (np.log(data) + 1.0) * self.idf[columns]
        segments = 2 * np.repeat(np.arange(len(documents)), np.diff(matrix.indptr))
        segments += columns >= self.offset  # each block (words, chars) has its own l2 norm
        norms = np.sqrt(np.bincount(segments, weights=data * data, minlength=2 * len(documents)))
        matrix.data = data / norms[segments]
        return documents, matrix

    def proba(self, features: csr_matrix) -> np.ndarray:
        """Return calibrated class probabilities for TF-IDF rows."""
        if not self.fast:
            return self.pipeline[-1].predict_proba(features)
        logits = self.beta * (features @ self.coef_rows + self.intercept)
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        return logits

    def explain(
        self, document: str, indices: np.ndarray, values: np.ndarray, label: int, limit: int
    ) -> list[tuple[str, float]]:
        """Return up to limit (term, contribution) pairs of the text that most raise the label."""
        weights = self.coef[label]
        contribution = dict(
            zip(indices.tolist(), (values * weights[indices]).tolist(), strict=True)
        )
        text = text_part(document)
        scores: dict[str, float] = {}
        self._add_words(text, contribution, scores)
        self._add_chars(text, contribution, scores)
        ranked = sorted(((s, t) for t, s in scores.items() if s > 0), reverse=True)
        return [(term, score) for score, term in ranked[:limit]]

    def _add_words(
        self, text: str, contribution: dict[int, float], scores: dict[str, float]
    ) -> None:
        """Credit word n-gram and pair features to the phrases and words they came from."""
        matches = list(_TOKEN.finditer(text))
        vocabulary = self.word_vocabulary
        low, high = self.word_features.ngram_range
        seen: set[int] = set()
        for n in range(low, high + 1):
            for i in range(len(matches) - n + 1):
                group = matches[i : i + n]
                index = vocabulary.get(" ".join(m.group() for m in group))
                if index is None or index in seen or index not in contribution:
                    continue
                seen.add(index)  # a repeated n-gram is one feature: credit its first phrase once
                phrase = text[group[0].start() : group[-1].end()]
                scores[phrase] = scores.get(phrase, 0.0) + contribution[index]
        for i, j in self.word_features.pairs(len(matches)):
            a, b = matches[i].group(), matches[j].group()
            index = vocabulary.get(_pair(a, b))
            if index is None or index in seen or index not in contribution:
                continue
            seen.add(index)  # a pair is no phrase of the text, so each of its words gets half
            scores[a] = scores.get(a, 0.0) + contribution[index] / 2
            scores[b] = scores.get(b, 0.0) + contribution[index] / 2

    def _add_chars(
        self, text: str, contribution: dict[int, float], scores: dict[str, float]
    ) -> None:
        """Share each character n-gram's contribution among the words that hold it."""
        occurrences = [(chunk, self.chunk_features(chunk)) for chunk in text.split()]
        totals = Counter(index for _, found in occurrences for index in found)
        for chunk, found in occurrences:
            word = _strip_word(chunk)
            if not word:
                continue  # punctuation alone is no reason a reader can use
            share = sum(contribution.get(i, 0.0) / totals[i] for i in found)
            if share:
                scores[word] = scores.get(word, 0.0) + share


class _WordTable:
    """The word block's vocabulary keyed by token ids: a batch's n-grams and pairs in numpy."""

    def __init__(self, vocabulary: Mapping[str, int], word_features: WordFeatures):
        unigrams: dict[str, int] = {}
        bigrams: dict[tuple[str, str], int] = {}
        pairs: dict[tuple[str, str], int] = {}
        for name, column in vocabulary.items():
            if "|" in name:
                a, b = name.split("|")
                pairs[a, b] = column
            elif " " in name:
                a, b = name.split(" ")
                bigrams[a, b] = column
            else:
                unigrams[name] = column
        names = set(unigrams).union(*bigrams, *pairs)
        # Ids in string order, so the smaller id of two tokens is the one a pair's name puts first.
        self.tokens = {name: i for i, name in enumerate(sorted(names))}
        self.size = len(self.tokens)
        self.unigram = np.full(self.size + 1, -1, dtype=np.int64)  # last slot: unknown token
        for name, column in unigrams.items():
            self.unigram[self.tokens[name]] = column
        self.bigrams = self._keyed(bigrams)
        self.pairs = self._keyed(pairs)
        high = word_features.ngram_range[1]
        self.distances = ([1] if high >= 2 else []) + list(
            range(2 if high >= 2 else 1, word_features.pair_window + 1)
        )
        self.bigram_distance = 1 if high >= 2 else 0

    def _keyed(self, grams: Mapping[tuple[str, str], int]) -> tuple[np.ndarray, np.ndarray]:
        """Return the sorted integer keys of two-token features and their columns."""
        keys = np.asarray(
            [self.tokens[a] * self.size + self.tokens[b] for a, b in grams], dtype=np.int64
        )
        columns = np.asarray(list(grams.values()), dtype=np.int64)
        order = np.argsort(keys)
        return keys[order], columns[order]

    def columns(self, tokens: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (row, column) of every word feature occurrence in a batch of token id lists."""
        doc = np.repeat(np.arange(len(counts)), counts)
        rows, columns = [doc], [self.unigram[tokens]]  # -1 indexes the unknown slot
        for distance in self.distances:
            if distance >= len(tokens):
                break
            left, right = tokens[:-distance], tokens[distance:]
            ok = (doc[:-distance] == doc[distance:]) & (left >= 0) & (right >= 0)
            left, right = left[ok], right[ok]
            if distance == self.bigram_distance:
                keys, table = left * self.size + right, self.bigrams
            else:
                keys = np.minimum(left, right) * self.size + np.maximum(left, right)
                table = self.pairs
            if not len(table[0]):
                continue
            at = np.minimum(np.searchsorted(table[0], keys), len(table[0]) - 1)
            hit = table[0][at] == keys
            rows.append(doc[:-distance][ok][hit])
            columns.append(table[1][at[hit]])
        return np.concatenate(rows), np.concatenate(columns)


def _strip_word(chunk: str) -> str:
    """Return a whitespace-separated chunk without punctuation at its ends."""
    start, end = 0, len(chunk)
    while start < end and not chunk[start].isalnum():
        start += 1
    while end > start and not chunk[end - 1].isalnum():
        end -= 1
    return chunk[start:end]


def _linear_weights(model: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return (n_classes, n_features) weights and intercepts of the calibrated linear model."""
    calibrated = getattr(model, "calibrated_classifiers_", None)
    estimators = [c.estimator for c in calibrated] if calibrated else [model]
    coef = np.mean([np.asarray(e.coef_, dtype=np.float64) for e in estimators], axis=0)
    intercept = np.mean([np.ravel(e.intercept_).astype(np.float64) for e in estimators], axis=0)
    if coef.shape[0] == 1:  # binary: one weight vector arguing for classes_[1], logits (-d, d)
        coef = np.vstack([-coef[0], coef[0]])
        intercept = np.array([-intercept[0], intercept[0]])
    return coef, intercept


def _temperature(model: Any) -> float | None:
    """Return beta of a single temperature-scaled linear model, or None for anything else."""
    calibrated = getattr(model, "calibrated_classifiers_", None)
    if not calibrated or len(calibrated) != 1 or calibrated[0].method != "temperature":
        return None
    if not hasattr(calibrated[0].estimator, "decision_function"):
        return None
    return float(calibrated[0].calibrators[0].beta_)


_COMPILED: weakref.WeakKeyDictionary[Pipeline, _Compiled] = weakref.WeakKeyDictionary()
_COMPILED_LOCK = threading.Lock()


def _compiled(pipeline: Pipeline) -> _Compiled:
    """Return the pipeline's inference tables, building them once under a lock."""
    compiled = _COMPILED.get(pipeline)
    if compiled is None:
        with _COMPILED_LOCK:
            compiled = _COMPILED.get(pipeline)
            if compiled is None:
                compiled = _COMPILED[pipeline] = _Compiled(pipeline)
    return compiled
