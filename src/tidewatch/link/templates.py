"""Template clusters: the same advert posted with different phone numbers or handles.

Posts are compared on normalised text in which digit runs, URLs and @handles are masked,
so "Boat tonight call +44 7700 900123" and "Boat tonight call 0044 7700 900456" become the
same template. Digits are masked, not deleted, and non-Latin scripts are kept: deleting
them (as InfoShield does) loses Arabic-script adverts and the numbers that link accounts.
MinHash over word 3-shingles with locality-sensitive hashing finds near-duplicates in
time linear in the number of posts.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence

from datasketch import MinHash, MinHashLSH

from tidewatch.detect.normalise import normalise

_URL = re.compile(r"(?:https?://|www\.)\S+|\b[a-z0-9-]+\.(?:me|com|net|org|ly)/\S*")
_HANDLE = re.compile(r"@[\w.]+")
_DIGITS = re.compile(r"\d(?:[\d\s.\-]*\d)?")
_WORD = re.compile(r"[^\W_]+|[%€£$#]")
PERMUTATIONS = 64
THRESHOLD = 0.6
MIN_SHINGLES = 4


def template_text(text: str) -> str:
    masked = _URL.sub(" url ", normalise(text).text)
    masked = _HANDLE.sub(" handle ", masked)
    return _DIGITS.sub(" 0 ", masked)


def shingles(text: str, size: int = 3) -> set[str]:
    words = _WORD.findall(template_text(text))
    if len(words) < size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def template_clusters(
    posts: Sequence[tuple[Hashable, str]], *, threshold: float = THRESHOLD, seed: int = 1
) -> list[list[Hashable]]:
    """Groups of post keys whose texts share a template (two or more posts each)."""
    lsh = MinHashLSH(threshold=threshold, num_perm=PERMUTATIONS)
    hashes: dict[Hashable, MinHash] = {}
    for key, text in posts:
        if key in hashes:
            continue
        grams = shingles(text)
        if len(grams) < MIN_SHINGLES:
            continue  # a three-word post matches too much to be evidence of a template
        signature = MinHash(num_perm=PERMUTATIONS, seed=seed)
        signature.update_batch([g.encode("utf-8") for g in grams])
        hashes[key] = signature
        lsh.insert(key, signature)
    parent: dict[Hashable, Hashable] = {key: key for key in hashes}

    def root(key: Hashable) -> Hashable:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for key, signature in hashes.items():
        for other in lsh.query(signature):
            if other != key and signature.jaccard(hashes[other]) >= threshold:
                parent[root(key)] = root(other)
    groups: dict[Hashable, list[Hashable]] = {}
    for key in hashes:
        groups.setdefault(root(key), []).append(key)
    return [members for members in groups.values() if len(members) > 1]
