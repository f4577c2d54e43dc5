"""Ticket features: one folded document per ticket, word n-grams and word pairs for TF-IDF."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from triage.text import fold

Record = Mapping[str, Any] | str

CONTEXT_PREFIX = "ctx_"
_SEPARATOR = "\n"  # fold() turns every whitespace run into one space, so text never holds it
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_SLUG = re.compile(r"[^a-z0-9]+")


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
        check_is_fitted(self)
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

    def __sklearn_tags__(self):
        """Declare the input a sequence of records (dicts or strings), not a 2-D array."""
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
        low, high = self.ngram_range
        features: list[str] = tokens[:] if low == 1 else []
        for n in range(max(low, 2), high + 1):
            features.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
        first = 2 if high >= 2 else 1
        window = self.pair_window + 1
        features.extend(
            a + "|" + b if a <= b else b + "|" + a
            for i, a in enumerate(tokens)
            for b in tokens[i + first : i + window]
        )
        features.extend(context.split())
        return features

    def pairs(self, n_tokens: int) -> list[tuple[int, int]]:
        """Return the token positions (i, j) of pair features; adjacent words are bigrams."""
        first = 2 if self.ngram_range[1] >= 2 else 1
        window = self.pair_window
        return [
            (i, j) for i in range(n_tokens) for j in range(i + first, min(n_tokens, i + window + 1))
        ]

    def __repr__(self) -> str:
        return f"WordFeatures(ngram_range={self.ngram_range!r}, pair_window={self.pair_window!r})"


def _pair(a: str, b: str) -> str:
    """Return the feature name of an unordered word pair, as WordFeatures spells it."""
    return f"{a}|{b}" if a <= b else f"{b}|{a}"
