"""The first-stage classifier: a linear model over hashed n-grams and the signal features.

Features (all stateless hashing, so the model file is just numbers):

* character n-grams (2-5, within word boundaries) of the normalised text: spelling-tolerant
  and language-agnostic, they carry most of the weight across 20 languages;
* word unigrams and bigrams: interpretable, and the source of the "text pattern" reasons;
* one feature per signal (log count), so a phone number or a per-person price counts the
  same in every language.

Probabilities are calibrated with Platt scaling fitted on out-of-fold scores, so a score of
0.8 means about 80% of such posts in held-out data were adverts. The model is saved as a
plain ``.npz`` of arrays plus JSON metadata: no pickle is loaded at run time.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.murmurhash import murmurhash3_32

try:  # HashingVectorizer's hashing loop (scikit-learn is pinned; the public class otherwise)
    from sklearn.feature_extraction._hashing_fast import transform as _hash_features
except ImportError:  # pragma: no cover
    _hash_features = None

from tidewatch.detect.signals import SIGNAL_INDEX, SIGNAL_NAMES, Analysis

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?|[%€£$]")


@dataclass(frozen=True)
class FeatureConfig:
    char_ngrams: tuple[int, int] = (2, 5)
    char_features: int = 2**19
    word_features: int = 2**18
    signal_scale: float = 1.0


def words(text: str) -> list[tuple[str, int, int]]:
    """Word tokens of normalised text with their spans."""
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]


def word_features(text: str) -> list[str]:
    tokens = _WORD.findall(text)  # the pattern has no capturing group: whole matches
    return tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]


def word_index(feature: str, n_features: int) -> int:
    """The column a word feature hashes to (the same function HashingVectorizer uses)."""
    return abs(murmurhash3_32(feature, seed=0)) % n_features


def word_indices(features: Sequence[str], n_features: int) -> list[int]:
    """``word_index`` of each feature, hashed in one call to scikit-learn's loop."""
    if _hash_features is None or not features:
        return [word_index(feature, n_features) for feature in features]
    columns, _indptr, _ones = _hash_features(
        [zip(features, itertools.repeat(1))], n_features, np.float32, False, seed=0
    )
    return list(columns.tolist())


_MIX = np.uint64(0x9E3779B97F4A7C15)
_SEPARATOR = 0  # code point that never occurs in normalised text (NUL)


def char_ngram_counts(
    texts: Sequence[str], ngrams: tuple[int, int], n_features: int
) -> sp.csr_matrix:
    """Hashed counts of character n-grams, computed for a whole batch with numpy.

    Each text is reduced to single spaces and padded with one space at each end, so word
    starts and ends are features (" b", "at "). All texts are laid end to end with a NUL
    after each; an n-gram's hash mixes its code points with 64-bit multiply-xor arithmetic,
    and n-grams that would span a NUL are dropped. Several times faster than generating
    n-gram strings in Python, which made it the slowest step of a scan.
    """
    low, high = ngrams
    pieces = [" " + " ".join(text.split()) + " " for text in texts]
    lengths = np.fromiter((len(p) + 1 for p in pieces), dtype=np.int64, count=len(pieces))
    joined = "\x00".join(pieces) + "\x00"
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    size = len(codes)
    key_type = _key_type(len(texts), n_features)
    # The (row, column) pair of an entry as one integer: row * n_features + column.
    row_base = np.repeat(np.arange(len(texts), dtype=key_type) * key_type(n_features), lengths)
    is_separator = np.concatenate((codes == _SEPARATOR, np.ones(high, dtype=bool)))
    hashes = np.zeros(size, dtype=np.uint64)
    blocked = np.zeros(size, dtype=bool)
    padded = np.concatenate((codes, np.zeros(high, dtype=np.uint64)))
    keys = []
    with np.errstate(over="ignore"):
        for n in range(1, high + 1):
            hashes *= _MIX
            hashes ^= padded[n - 1 : n - 1 + size] + np.uint64(n)
            blocked |= is_separator[n - 1 : n - 1 + size]
            if n >= low:
                columns = hashes ^ (hashes >> np.uint64(29))
                if n_features & (n_features - 1) == 0:  # a power of two: the same as %
                    columns &= np.uint64(n_features - 1)
                else:
                    columns %= np.uint64(n_features)
                keys.append((columns.astype(key_type) + row_base)[~blocked])
    return _count_matrix(np.concatenate(keys), len(texts), n_features)


@dataclass
class WordColumns:
    """The column of every word feature of each text, in ``word_features`` order (the text's
    tokens, then its bigrams): row ``i``'s are ``columns[indptr[i]:indptr[i + 1]]``."""

    columns: np.ndarray
    indptr: np.ndarray


def word_counts_and_columns(
    texts: Sequence[str], n_features: int
) -> tuple[sp.csr_matrix, WordColumns | None]:
    """Hashed counts of word unigrams and bigrams: the matrix of scikit-learn's
    ``HashingVectorizer(analyzer=word_features, alternate_sign=False, norm=None)``, from its
    own hashing loop but without its sort of every row. With it, the column each feature
    hashed to (None without scikit-learn's hashing loop), which the detector's reasons look
    words up in."""
    if _hash_features is None:
        return _word_hasher(n_features).transform(texts).tocsr(), None
    columns, indptr, _ones = _hash_features(
        (zip(word_features(text), itertools.repeat(1)) for text in texts),
        n_features,
        np.float32,
        False,
        seed=0,
    )
    key_type = _key_type(len(texts), n_features)
    rows = np.repeat(np.arange(len(texts), dtype=key_type), np.diff(indptr))
    keys = rows * key_type(n_features) + columns.astype(key_type)
    return _count_matrix(keys, len(texts), n_features), WordColumns(columns, indptr)


def _key_type(rows: int, n_features: int) -> type[np.unsignedinteger[Any]]:
    """The narrowest integer for row * n_features + column (32 bits sort twice as fast)."""
    return np.uint32 if rows * n_features <= 2**32 else np.uint64


def _count_matrix(keys: np.ndarray, rows: int, n_features: int) -> sp.csr_matrix:
    """CSR counts of the entries ``row * n_features + column`` in ``keys``, in canonical
    form (columns sorted within each row, no duplicates): the matrix that building with ones
    and calling ``sum_duplicates`` gives, entry for entry and in the same order, from one
    sort of all entries instead of one per row. Counts of ones are exact in float32."""
    keys = np.sort(keys)
    first = np.ones(keys.size, dtype=bool)
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, keys.size)).astype(np.float32)
    unique = keys[starts]
    width = unique.dtype.type(n_features)
    row_of = unique // width
    columns = (unique - row_of * width).astype(np.int32)
    indptr = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(row_of.astype(np.int64), minlength=rows), out=indptr[1:])
    matrix = sp.csr_matrix((counts, columns, indptr), shape=(rows, n_features))
    matrix.has_canonical_format = True
    return matrix


@cache
def _word_hasher(n_features: int) -> HashingVectorizer:
    return HashingVectorizer(
        analyzer=word_features,
        n_features=n_features,
        alternate_sign=False,
        norm=None,
        lowercase=False,
        dtype=np.float32,
    )


class Featurizer:
    def __init__(self, config: FeatureConfig) -> None:
        self.config = config

    @property
    def n_features(self) -> int:
        return self.config.char_features + self.config.word_features + len(SIGNAL_NAMES)

    def blocks(self, analyses: Sequence[Analysis]) -> Blocks:
        texts = [a.model_text for a in analyses]
        chars = _sublinear_l2(
            char_ngram_counts(texts, self.config.char_ngrams, self.config.char_features)
        )
        counts, word_columns = word_counts_and_columns(texts, self.config.word_features)
        words = _sublinear_l2(counts)
        # Each row is signal_vector() of its analysis, filled in where signals are present.
        signals = np.zeros((len(analyses), len(SIGNAL_NAMES)), dtype=np.float32)
        for row, analysis in enumerate(analyses):
            for name, count in analysis.counts().items():
                signals[row, SIGNAL_INDEX[name]] = math.log1p(count)
        signals *= self.config.signal_scale
        return Blocks(chars=chars, words=words, signals=signals, word_columns=word_columns)

    def transform(self, analyses: Sequence[Analysis]) -> sp.csr_matrix:
        """One matrix [chars | words | signals] (for training)."""
        blocks = self.blocks(analyses)
        return sp.hstack(
            [blocks.chars, blocks.words, sp.csr_matrix(blocks.signals)],
            format="csr",
            dtype=np.float32,
        )

    def word_offset(self) -> int:
        return self.config.char_features

    def signal_offset(self) -> int:
        return self.config.char_features + self.config.word_features


@dataclass
class Blocks:
    """The three feature blocks of a batch, kept apart so scoring needs no stacking."""

    chars: sp.csr_matrix
    words: sp.csr_matrix
    signals: np.ndarray
    word_columns: WordColumns | None = None


def _sublinear_l2(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """1 + log(count), then each row scaled to unit length (in place on the CSR arrays)."""
    data = 1.0 + np.log(matrix.data, dtype=np.float32)
    lengths = np.diff(matrix.indptr)
    squares = np.zeros(len(lengths), dtype=np.float32)
    nonempty = lengths > 0
    if data.size:
        squares[nonempty] = np.add.reduceat(data * data, matrix.indptr[:-1][nonempty])
    norms = np.sqrt(squares)
    norms[norms == 0] = 1.0
    matrix.data = data / np.repeat(norms, lengths)
    return matrix


@dataclass
class LinearModel:
    """Weights, calibration and the decision threshold: everything ``scan`` needs."""

    config: FeatureConfig
    coef: np.ndarray
    intercept: float
    platt_a: float
    platt_b: float
    threshold: float
    signal_names: tuple[str, ...] = SIGNAL_NAMES
    metadata: dict[str, Any] = field(default_factory=dict)

    def decision(self, features: sp.csr_matrix) -> np.ndarray:
        return np.asarray(features @ self.coef).ravel() + self.intercept

    def decision_blocks(self, blocks: Blocks) -> np.ndarray:
        c = self.config.char_features
        w = c + self.config.word_features
        return (
            np.asarray(blocks.chars @ self.coef[:c]).ravel()
            + np.asarray(blocks.words @ self.coef[c:w]).ravel()
            + blocks.signals @ self.coef[w:]
            + self.intercept
        )

    def probability(self, decision: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.platt_a * decision + self.platt_b)))

    def logit_threshold(self) -> float:
        """The raw decision value at which the calibrated probability equals the threshold."""
        p = self.threshold
        return (math.log(p / (1 - p)) - self.platt_b) / self.platt_a

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        nonzero = np.flatnonzero(self.coef)
        meta = {
            "config": asdict(self.config),
            "intercept": self.intercept,
            "platt_a": self.platt_a,
            "platt_b": self.platt_b,
            "threshold": self.threshold,
            "signal_names": list(self.signal_names),
            "metadata": self.metadata,
        }
        np.savez_compressed(
            path,
            coef_index=nonzero.astype(np.int32),
            coef_value=self.coef[nonzero].astype(np.float32),
            meta=np.frombuffer(json.dumps(meta, ensure_ascii=False).encode(), dtype=np.uint8),
        )

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            settings = meta["config"]
            config = FeatureConfig(
                char_ngrams=(int(settings["char_ngrams"][0]), int(settings["char_ngrams"][1])),
                char_features=int(settings["char_features"]),
                word_features=int(settings["word_features"]),
                signal_scale=float(settings["signal_scale"]),
            )
            size = config.char_features + config.word_features + len(meta["signal_names"])
            coef = np.zeros(size, dtype=np.float32)
            coef[data["coef_index"]] = data["coef_value"]
        if tuple(meta["signal_names"]) != SIGNAL_NAMES:
            raise ValueError(f"{path}: model was trained with other signals; run `tidewatch train`")
        return cls(
            config=config,
            coef=coef,
            intercept=float(meta["intercept"]),
            platt_a=float(meta["platt_a"]),
            platt_b=float(meta["platt_b"]),
            threshold=float(meta["threshold"]),
            signal_names=tuple(meta["signal_names"]),
            metadata=meta.get("metadata", {}),
        )


def fit_linear(
    features: sp.csr_matrix, labels: np.ndarray, *, c: float, seed: int
) -> LogisticRegression:
    model = LogisticRegression(
        C=c, class_weight="balanced", max_iter=3000, solver="liblinear", random_state=seed
    )
    model.fit(features, labels)
    return model


def out_of_fold(
    features: sp.csr_matrix,
    labels: np.ndarray,
    groups: np.ndarray,
    *,
    c: float,
    seed: int,
    folds: int = 5,
) -> np.ndarray:
    """Decision values for every example from a model that never saw it (stratified by
    language and label, so each fold holds every language)."""
    decisions = np.zeros(len(labels), dtype=np.float64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(np.zeros(len(labels)), groups):
        model = fit_linear(features[train], labels[train], c=c, seed=seed)
        decisions[test] = model.decision_function(features[test])
    return decisions


def fit_platt(decisions: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    calibrator = LogisticRegression(C=1e6, max_iter=1000)
    calibrator.fit(decisions.reshape(-1, 1), labels)
    return float(calibrator.coef_[0, 0]), float(calibrator.intercept_[0])
