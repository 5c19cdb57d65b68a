"""Template clusters: the same advert posted with different phone numbers or handles.

Posts are compared on normalised text in which digit runs, URLs and @handles are masked,
so "Boat tonight call +44 7700 900123" and "Boat tonight call 0044 7700 900456" become the
same template. Digits are masked, not deleted, and non-Latin scripts are kept: deleting
them (as InfoShield does) loses Arabic-script adverts and the numbers that link accounts.
MinHash signatures over word 3-shingles (rensa, in Rust) and banded locality-sensitive
hashing done in bulk with numpy find near-duplicates in time linear in the number of posts.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence

import numpy as np
import scipy.sparse as sp
from rensa import RMinHash
from scipy.sparse.csgraph import connected_components

from tidewatch.detect.normalise import normalise

_URL = re.compile(r"(?:https?://|www\.)\S+|\b[a-z0-9-]+\.(?:me|com|net|org|ly)/\S*")
_HANDLE = re.compile(r"@[\w.]+")
_DIGITS = re.compile(r"\d(?:[\d\s.\-]*\d)?")
_WORD = re.compile(r"[^\W_]+|[%€£$#]")
PERMUTATIONS = 64
BANDS = 16  # 16 bands of 4 rows: pairs at Jaccard 0.6 are candidates with probability 0.99
THRESHOLD = 0.6
MIN_SHINGLES = 4
_SIGNATURE_BATCH = 8192  # posts hashed per call to rensa's bulk MinHash
_COMPARE_SLICE = 65536


def template_text(text: str) -> str:
    masked = _URL.sub(" url ", normalise(text).text)
    masked = _HANDLE.sub(" handle ", masked)
    return _DIGITS.sub(" 0 ", masked)


def shingles(text: str, size: int = 3) -> set[str]:
    words = _WORD.findall(template_text(text))
    if len(words) < size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def _signatures(token_sets: list[list[str]], seed: int) -> np.ndarray:
    """MinHash signatures of many posts as one compact array (rensa's values are 32-bit; a
    list of Python integers per post took ten times the memory at a million posts)."""
    digests = RMinHash.digest_matrix_from_token_sets(token_sets, PERMUTATIONS, seed)
    return np.asarray(digests.to_rows(), dtype=np.uint32)


def template_clusters(
    posts: Sequence[tuple[Hashable, str]], *, threshold: float = THRESHOLD, seed: int = 1
) -> list[list[Hashable]]:
    """Groups of post keys whose texts share a template (two or more posts each).

    Banded LSH done in bulk: the 64 MinHash values of every post are cut into 16 bands of 4;
    posts whose band values are equal fall in one bucket and are joined to the bucket's first
    post if their estimated Jaccard similarity with it reaches ``threshold``; clusters are
    the connected components. Work grows with posts x bands, not with the size of the
    buckets: querying each post (the textbook way) compared every post of a popular
    template with every other one and did not finish on a million posts.
    """
    keys: list[Hashable] = []
    blocks: list[np.ndarray] = []
    pending: list[list[str]] = []
    seen: set[Hashable] = set()
    for key, text in posts:
        if key in seen:
            continue
        seen.add(key)
        grams = shingles(text)
        if len(grams) < MIN_SHINGLES:
            continue  # a three-word post matches too much to be evidence of a template
        keys.append(key)
        pending.append(sorted(grams))
        if len(pending) == _SIGNATURE_BATCH:
            blocks.append(_signatures(pending, seed))
            pending = []
    if pending:
        blocks.append(_signatures(pending, seed))
    if len(keys) < 2:
        return []
    matrix = np.concatenate(blocks)
    del blocks
    rows = PERMUTATIONS // BANDS
    sources: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    for band in range(BANDS):
        block = matrix[:, band * rows : (band + 1) * rows]
        _, bucket = np.unique(block, axis=0, return_inverse=True)
        order = np.argsort(bucket, kind="stable")
        sorted_buckets = bucket[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = sorted_buckets[1:] != sorted_buckets[:-1]
        representative = order[np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))]
        joined = np.flatnonzero(order != representative)
        # Compared in slices: two full copies of the signatures would double peak memory.
        similar = np.concatenate(
            [
                (matrix[order[part]] == matrix[representative[part]]).mean(axis=1) >= threshold
                for part in np.array_split(joined, max(1, len(joined) // _COMPARE_SLICE))
            ]
        )
        sources.append(order[joined[similar]])
        targets.append(representative[joined[similar]])
    source = np.concatenate(sources)
    target = np.concatenate(targets)
    graph = sp.coo_matrix((np.ones(len(source)), (source, target)), shape=(len(keys), len(keys)))
    _count, labels = connected_components(graph, directed=False)
    groups: dict[int, list[Hashable]] = {}
    for index, label in enumerate(labels.tolist()):
        groups.setdefault(label, []).append(keys[index])
    return [members for members in groups.values() if len(members) > 1]
