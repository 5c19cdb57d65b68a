"""The batch feature hashing must give the shipped model exactly the matrices it was trained
on: same columns, same counts, same order within each row (float32 sums depend on order)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from tidewatch.detect.classifier import (
    char_ngram_counts,
    word_counts_and_columns,
    word_features,
    word_index,
    word_indices,
)
from tidewatch.detect.signals import analyse
from tidewatch.detect.train import load_corpus

CORPUS = Path(__file__).resolve().parents[2] / "data" / "corpus"
_MASK = 2**64 - 1


@pytest.fixture(scope="module")
def texts() -> list[str]:
    rows = load_corpus(CORPUS)[::40]
    return [analyse(str(row["text"])).model_text for row in rows] + ["", "a", "  x  y "]


def _reference_char_counts(texts: list[str], ngrams: tuple[int, int], n: int) -> sp.csr_matrix:
    """The n-gram hash as the docstring states it, one n-gram at a time."""
    low, high = ngrams
    rows, columns = [], []
    for row, text in enumerate(texts):
        padded = " " + " ".join(text.split()) + " "
        for start in range(len(padded)):
            value = 0
            for width in range(1, high + 1):
                if start + width > len(padded):
                    break
                code = ord(padded[start + width - 1])
                value = ((value * 0x9E3779B97F4A7C15) & _MASK) ^ (code + width)
                if width >= low:
                    rows.append(row)
                    columns.append((value ^ (value >> 29)) % n)
    data = np.ones(len(rows), dtype=np.float32)
    matrix = sp.csr_matrix((data, (rows, columns)), shape=(len(texts), n))
    matrix.sum_duplicates()
    return matrix


def _assert_identical(actual: sp.csr_matrix, expected: sp.csr_matrix) -> None:
    assert actual.shape == expected.shape
    assert actual.data.dtype == expected.data.dtype == np.float32
    np.testing.assert_array_equal(actual.indptr, expected.indptr)
    np.testing.assert_array_equal(actual.indices, expected.indices)
    np.testing.assert_array_equal(actual.data, expected.data)


@pytest.mark.parametrize("n_features", [2**19, 1000])
def test_character_ngram_counts_match_hashing_one_ngram_at_a_time(
    texts: list[str], n_features: int
) -> None:
    expected = _reference_char_counts(texts, (2, 5), n_features)
    _assert_identical(char_ngram_counts(texts, (2, 5), n_features), expected)
    assert expected.data.max() > 1  # repeated n-grams are counted, not listed twice


@pytest.mark.parametrize("n_features", [2**18, 999])
def test_word_counts_match_scikit_learns_hashing_vectorizer(
    texts: list[str], n_features: int
) -> None:
    vectorizer = HashingVectorizer(
        analyzer=word_features,
        n_features=n_features,
        alternate_sign=False,
        norm=None,
        lowercase=False,
        dtype=np.float32,
    )
    expected = vectorizer.transform(texts).tocsr()
    _assert_identical(word_counts_and_columns(texts, n_features)[0], expected)
    assert expected.data.max() > 1


def test_a_large_batch_keys_entries_in_64_bits(texts: list[str]) -> None:
    # 9,000 rows x 2**19 columns does not fit 32-bit keys.
    many = (texts * (9000 // len(texts) + 1))[:9000]
    counts = char_ngram_counts(many, (2, 5), 2**19)
    single = char_ngram_counts(many[-1:], (2, 5), 2**19)
    np.testing.assert_array_equal(counts[-1].indices, single.indices)
    np.testing.assert_array_equal(counts[-1].data, single.data)


def test_word_features_are_tokens_then_bigrams() -> None:
    assert word_features("boat to italy 100 %") == [
        "boat",
        "to",
        "italy",
        "100",
        "%",
        "boat to",
        "to italy",
        "italy 100",
        "100 %",
    ]


@pytest.mark.parametrize("n_features", [2**18, 999])
def test_word_indices_are_word_index_of_each_feature(texts: list[str], n_features: int) -> None:
    features = [feature for text in texts for feature in word_features(text)]
    expected = [word_index(feature, n_features) for feature in features]
    assert word_indices(features, n_features) == expected
    assert len(set(expected)) > 100
    assert word_indices([], n_features) == []
