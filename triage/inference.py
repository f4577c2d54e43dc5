"""Fast inference for one fitted pipeline: TF-IDF features, probabilities and explanations.

The tables here are built once per pipeline (``compiled``) and compute what scikit-learn would,
with the same formulas in the same order, without its per-call validation: one ticket costs a
fraction of a millisecond. triage.classifier.predict is the way in.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.pipeline import Pipeline

from triage.features import (
    _SEPARATOR,
    _TOKEN,
    Record,
    TicketDocument,
    WordFeatures,
    _pair,
    text_part,
)


@dataclass(frozen=True)
class _Row:
    """One ticket's TF-IDF row and where in its text each feature was found, for its explanation.

    The credits are listed in the order explain() adds them up (word n-grams' first phrases,
    then each pair's two words, then the words holding char n-grams), so the scores come out
    the same to the last bit.
    """

    columns: np.ndarray  # feature indices, ascending as in a CSR row
    values: np.ndarray  # their TF-IDF values
    counts: np.ndarray  # their term counts
    terms: list[str]  # the phrases and words that can be credited; "" collects punctuation
    credit_at: np.ndarray  # per word credit: the feature's position in columns
    credit_term: np.ndarray  # and the term it goes to
    n_phrases: int  # credits before this are whole n-grams; after, half a pair each
    gram_at: np.ndarray  # per char n-gram occurrence: the feature's position in columns
    gram_chunk: np.ndarray  # and the chunk it is in
    chunk_term: np.ndarray  # the word of each chunk


class Compiled:
    """A fitted pipeline's lookup tables for fast inference and explanations, built once.

    For pipelines made by build_pipeline with temperature calibration the features and
    probabilities are computed here with the same formulas as scikit-learn (counts, 1 + log tf,
    idf, l2 per block, weights, softmax(beta * logits)) but without its per-call validation,
    which costs milliseconds for one ticket; other pipelines go through scikit-learn. One ticket
    alone (the API's hot path) takes row(), row_proba() and explain_row(): the same numbers in
    the same order as features(), proba() and explain(), without a sparse matrix or re-reading
    the text to explain it.
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

    def row(self, record: Record) -> _Row:
        """Return one record's TF-IDF row, equal to features() for it, and where it came from."""
        [document] = self.document.transform([record])
        text, _, context = document.partition(_SEPARATOR)
        matches = list(_TOKEN.finditer(text))
        words = [m.group() for m in matches]
        lookup = self.word_vocabulary.get
        terms: dict[str, int] = {"": 0}  # what a reason can name; "" gathers punctuation
        term = terms.setdefault  # term(name, len(terms)) is the name's index in terms
        word_term = [term(w, len(terms)) for w in words]
        hits: list[int] = []  # word n-gram occurrences in explain()'s order: unigrams, bigrams
        hit_term: list[int] = []  # and the phrase each would credit
        for column, word_id in zip(map(lookup, words), word_term, strict=True):
            if column is not None:
                hits.append(column)
                hit_term.append(word_id)
        if self.word_features.ngram_range[1] == 2:
            for i in range(len(words) - 1):
                column = lookup(f"{words[i]} {words[i + 1]}")
                if column is not None:
                    hits.append(column)
                    phrase = text[matches[i].start() : matches[i + 1].end()]
                    hit_term.append(term(phrase, len(terms)))
        token = self.word_table.tokens.get
        pairs, left, right = self.word_table.pairs_of([token(w, -1) for w in words])
        context_columns = [c for c in map(lookup, context.split()) if c is not None]
        grams: list[int] = []
        sizes: list[int] = []
        chunk_term: list[int] = []
        cache = self._chunks
        for chunk in text.split():
            found = cache.get(chunk)
            if found is None:
                found = self.chunk_features(chunk)
            grams += found
            sizes.append(len(found))
            word = chunk if chunk[0].isalnum() and chunk[-1].isalnum() else _strip_word(chunk)
            chunk_term.append(term(word, len(terms)))
        # Every feature occurrence, the n_hits that explain() may credit first, then the context
        # tokens and the char n-grams; at maps each occurrence to its place in columns.
        n_hits = len(hits) + len(pairs)
        columns, at, counts = np.unique(
            np.concatenate(
                [
                    np.asarray(hits, dtype=np.int64),
                    pairs,
                    np.asarray(context_columns + grams, dtype=np.int64),
                ]
            ),
            return_inverse=True,
            return_counts=True,
        )
        # The same formulas in the same order as features(), so the values are equal to the bit.
        data = (np.log(counts.astype(np.float64)) + 1.0) * self.idf[columns]
        blocks = (columns >= self.offset).astype(np.intp)
        norms = np.sqrt(np.bincount(blocks, weights=data * data, minlength=2))
        # explain() credits each word feature once, at its first occurrence.
        occurrence = np.arange(n_hits)
        first = np.full(len(columns), n_hits)
        np.minimum.at(first, at[:n_hits], occurrence)
        credited = first[at[:n_hits]] == occurrence
        phrases = np.flatnonzero(credited[: len(hits)])
        pair = np.flatnonzero(credited[len(hits) :])  # half to each of its two words
        halves = np.asarray(word_term, dtype=np.intp)[np.column_stack([left[pair], right[pair]])]
        return _Row(
            columns=columns,
            values=data / norms[blocks],
            counts=counts,
            terms=list(terms),
            credit_at=np.concatenate([at[phrases], np.repeat(at[len(hits) + pair], 2)]),
            credit_term=np.concatenate(
                [np.asarray(hit_term, dtype=np.intp)[phrases], halves.ravel()]
            ),
            n_phrases=len(phrases),
            gram_at=at[n_hits + len(context_columns) :],
            gram_chunk=np.repeat(np.arange(len(sizes)), sizes),
            chunk_term=np.asarray(chunk_term, dtype=np.intp),
        )

    def row_proba(self, row: _Row) -> tuple[np.ndarray, np.ndarray]:
        """Return one row's class probabilities, as proba() does, and its features' logit terms."""
        contributions = row.values[:, None] * self.coef_rows[row.columns]  # (feature, class)
        # Summed down the rows in column order, as scipy's sparse product adds them.
        logits = self.beta * (contributions.sum(axis=0) + self.intercept)
        logits -= logits.max()
        np.exp(logits, out=logits)
        logits /= logits.sum()
        return logits, contributions

    def explain_row(
        self, row: _Row, contribution: np.ndarray, limit: int
    ) -> list[tuple[str, float]]:
        """Return explain()'s answer for one row from its features' contributions to a label."""
        credits = contribution[row.credit_at]
        credits[row.n_phrases :] /= 2
        # add.at adds in index order, as explain() does term by term: the same sums to the bit.
        shares = np.zeros(len(row.chunk_term))
        np.add.at(shares, row.gram_chunk, contribution[row.gram_at] / row.counts[row.gram_at])
        scores = np.zeros(len(row.terms))
        np.add.at(
            scores,
            np.concatenate([row.credit_term, row.chunk_term]),
            np.concatenate([credits, shares]),
        )
        found = scores.tolist()
        ranked = sorted(
            ((found[i], term) for i, term in enumerate(row.terms) if found[i] > 0 and term),
            reverse=True,
        )
        return [(term, score) for score, term in ranked[:limit]]

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
    """The word block's vocabulary keyed by token ids: n-grams and pairs looked up in numpy."""

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
        # For pairs_of(): the pair distances (adjacent words are bigrams), and unknown tokens to
        # pad a text with so every word has a full window.
        self.pair_distances = np.arange(2 if high >= 2 else 1, word_features.pair_window + 1)
        self.pair_padding = [-1] * word_features.pair_window

    def _keyed(self, grams: Mapping[tuple[str, str], int]) -> tuple[np.ndarray, np.ndarray]:
        """Return the sorted integer keys of two-token features and their columns."""
        keys = np.asarray(
            [self.tokens[a] * self.size + self.tokens[b] for a, b in grams], dtype=np.int64
        )
        columns = np.asarray(list(grams.values()), dtype=np.int64)
        order = np.argsort(keys)
        return keys[order], columns[order]

    def pairs_of(self, tokens: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return column, first and second position of each pair feature of one text, in order."""
        keys, table = self.pairs
        n, distances = len(tokens), self.pair_distances
        if not n or not len(distances) or not len(keys):
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        ids = np.asarray(tokens + self.pair_padding, dtype=np.int64)
        second = np.arange(n)[:, None] + distances  # row i: positions paired with i, in order
        left, right = ids[:n, None], ids[second]
        # Unknown tokens (-1), and the padding past the end, give negative keys: never found.
        wanted = (np.minimum(left, right) * self.size + np.maximum(left, right)).ravel()
        at = np.searchsorted(keys, wanted)
        np.minimum(at, len(keys) - 1, out=at)
        hit = np.flatnonzero(keys[at] == wanted)
        return table[at[hit]], hit // len(distances), second.ravel()[hit]

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


_TABLES: weakref.WeakKeyDictionary[Pipeline, Compiled] = weakref.WeakKeyDictionary()
_TABLES_LOCK = threading.Lock()


def tables_for(pipeline: Pipeline) -> Compiled:
    """Return the pipeline's inference tables, building them once under a lock."""
    compiled = _TABLES.get(pipeline)
    if compiled is None:
        with _TABLES_LOCK:
            compiled = _TABLES.get(pipeline)
            if compiled is None:
                compiled = _TABLES[pipeline] = Compiled(pipeline)
    return compiled
