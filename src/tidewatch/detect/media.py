"""Media hashing and matching: PDQ perceptual hashes of images, a hash bank, and an index
that finds every stored hash within PDQ distance 31 of a query in well under a millisecond.

Testimonial photos and advert images are re-uploaded by backup accounts, cropped, re-encoded
and re-captioned; a PDQ hash (Meta's open perceptual hash, 256 bits) survives that, and two
images within Hamming distance 31 are treated as the same picture (Meta's recommended
threshold).

The index is multi-index hashing: the 256 bits are cut into 16 chunks of 16 bits. Two hashes
within distance 31 differ in at most 31 bits, so at least one chunk differs in at most one
bit (pigeonhole); probing each chunk's table with the query chunk and its 16 one-bit
neighbours finds every candidate, and an exact Hamming check keeps the true matches. The
search is exact, not approximate.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PDQ_BITS = 256
PDQ_MATCH_DISTANCE = 31
#: Hashes of lower quality (flat, tiny or blank pictures) say little and are not matched.
PDQ_MIN_QUALITY = 50
_CHUNKS = 16
_CHUNK_BITS = PDQ_BITS // _CHUNKS
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
_PDQ_HEX = re.compile(r"[0-9a-f]{64}")
#: Candidates looked at in one vectorised step of :meth:`PDQIndex.search_many` (memory bound).
_BATCH_CANDIDATES = 1 << 20


class MediaError(ValueError):
    """An image that cannot be decoded or a hash that is not a PDQ hash."""


def pdq_hash(image: bytes | Path) -> tuple[str, int]:
    """(64 hex digits, quality 0-100) of an image's PDQ hash. Quality under 50 means a flat
    or tiny image whose hash should not be trusted for matching."""
    import pdqhash
    from PIL import Image, UnidentifiedImageError

    try:
        source = io.BytesIO(image) if isinstance(image, bytes) else image
        with Image.open(source) as opened:
            pixels = np.asarray(opened.convert("RGB"))
    except (UnidentifiedImageError, OSError) as error:
        raise MediaError(f"not an image this reader can decode: {error}") from None
    bits, quality = pdqhash.compute(pixels)
    return bits_to_hex(np.asarray(bits, dtype=np.uint8)), int(quality)


def bits_to_hex(bits: np.ndarray) -> str:
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()


def hex_to_bytes(value: str) -> np.ndarray:
    text = value.strip().lower()
    if not _PDQ_HEX.fullmatch(text):
        raise MediaError(f"{value[:80]!r} is not a 64-digit hexadecimal PDQ hash")
    return np.frombuffer(bytes.fromhex(text), dtype=np.uint8)


def hexes_to_codes(values: Sequence[str]) -> np.ndarray:
    """Many hex hashes as one (n, 32) uint8 array, each validated as :func:`hex_to_bytes` does."""
    texts = [value.strip().lower() for value in values]
    for value, text in zip(values, texts, strict=True):
        if not _PDQ_HEX.fullmatch(text):
            raise MediaError(f"{value[:80]!r} is not a 64-digit hexadecimal PDQ hash")
    return np.frombuffer(bytes.fromhex("".join(texts)), dtype=np.uint8).reshape(-1, PDQ_BITS // 8)


def hamming(a: str, b: str) -> int:
    return int(_POPCOUNT[np.bitwise_xor(hex_to_bytes(a), hex_to_bytes(b))].sum())


class PDQIndex:
    """Exact radius search over many PDQ hashes (multi-index hashing, see module doc)."""

    def __init__(self, hashes: np.ndarray) -> None:
        """``hashes``: uint8 array of shape (n, 32)."""
        self.codes = np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, PDQ_BITS // 8)
        self._words = self.codes.view(np.uint64)  # four 64-bit words a hash, for popcounts
        # The same words one array per position: gathering from 1-D arrays is faster.
        self._word_columns = [np.ascontiguousarray(self._words[:, w]) for w in range(4)]
        count = len(self.codes)
        chunks = self.codes.view(">u2")  # 16 chunks of 16 bits, as integers
        buckets = 2**_CHUNK_BITS
        # One table per chunk, laid end to end: rows sorted by chunk value, and where each
        # value's rows start (offset by the table's position), so a probe is two lookups.
        self._rows = np.empty(_CHUNKS * count, dtype=np.int32)
        self._starts = np.empty((_CHUNKS, buckets + 1), dtype=np.int64)
        for column in range(_CHUNKS):
            keys = chunks[:, column].astype(np.int64)
            self._rows[column * count : (column + 1) * count] = np.argsort(keys, kind="stable")
            self._starts[column, 0] = column * count
            np.cumsum(np.bincount(keys, minlength=buckets), out=self._starts[column, 1:])
            self._starts[column, 1:] += column * count
        flips = np.array([0] + [1 << b for b in range(_CHUNK_BITS)], dtype=np.int64)
        self._flips = flips
        self._columns = np.repeat(np.arange(_CHUNKS), len(flips))

    def __len__(self) -> int:
        return len(self.codes)

    def search(
        self, query: str | np.ndarray, radius: int = PDQ_MATCH_DISTANCE
    ) -> list[tuple[int, int]]:
        """(row, distance) of every stored hash within ``radius`` of ``query``, nearest first."""
        if radius > 2 * _CHUNKS - 1:
            raise ValueError(
                f"radius {radius} is beyond what {_CHUNKS} chunks guarantee (max {2 * _CHUNKS - 1})"
            )
        code = hex_to_bytes(query) if isinstance(query, str) else np.asarray(query, dtype=np.uint8)
        chunks = code.view(">u2").astype(np.int64)
        # All 16 x 17 probes at once: each chunk's value and its 16 one-bit neighbours.
        keys = (chunks[:, None] ^ self._flips[None, :]).ravel()
        first = self._starts[self._columns, keys]
        lengths = self._starts[self._columns, keys + 1] - first
        total = int(lengths.sum())
        if total == 0:
            return []
        offsets = np.repeat(first - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
        # Candidates repeat across chunks; checking a few twice is cheaper than sorting them.
        rows = self._rows[offsets]
        words = self._words[rows] ^ code.view(np.uint64)
        distances = np.bitwise_count(words).sum(axis=1, dtype=np.int64)
        keep = distances <= radius
        ranked = sorted(set(zip(distances[keep].tolist(), rows[keep].tolist(), strict=True)))
        return [(row, distance) for distance, row in ranked]

    def search_many(
        self,
        queries: np.ndarray,
        radius: int = PDQ_MATCH_DISTANCE,
        *,
        limit: int | None = None,
        weights: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (query, row) pair within ``radius``, for many queries at once.

        ``queries``: uint8 array of shape (m, 32). Returns ``(query, row, over)``: two equal
        int64 arrays of matching pairs, and a boolean array saying which queries matched more
        than ``limit`` copies (each row counting ``weights[row]`` copies, 1 by default); those
        queries' pairs are left out. A query near thousands of stored hashes (a viral picture)
        stops looking once it is over the limit, so its cost does not grow with its copies.
        """
        if radius > 2 * _CHUNKS - 1:
            raise ValueError(
                f"radius {radius} is beyond what {_CHUNKS} chunks guarantee (max {2 * _CHUNKS - 1})"
            )
        codes = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, PDQ_BITS // 8)
        copies = (
            np.ones(len(self), dtype=np.int64)
            if weights is None
            else np.asarray(weights, dtype=np.int64)
        )
        over = np.zeros(len(codes), dtype=bool)
        found_queries: list[np.ndarray] = []
        found_rows: list[np.ndarray] = []
        # A query with this many candidate entries is searched alone, one chunk at a time.
        hot = None if limit is None else max(_CHUNKS * 4 * (limit + 1), 4096)
        step = 256
        for begin in range(0, len(codes), step):
            block = codes[begin : begin + step]
            keys = (block.view(">u2").astype(np.int64)[:, :, None] ^ self._flips).reshape(
                len(block), -1
            )
            first = self._starts[self._columns, keys]
            lengths = self._starts[self._columns, keys + 1] - first
            per_query = lengths.sum(axis=1)
            cold = np.ones(len(block), dtype=bool)
            if hot is not None:
                for q in np.flatnonzero(per_query > hot).tolist():
                    cold[q] = False
                    rows = self._search_limited(
                        block[q], first[q], lengths[q], radius, limit, copies
                    )
                    if rows is None:
                        over[begin + q] = True
                    else:
                        found_queries.append(np.full(len(rows), begin + q, dtype=np.int64))
                        found_rows.append(rows)
            # Vectorised over groups of queries whose candidates fit in one step's memory.
            members = np.flatnonzero(cold)
            group_of = np.cumsum(per_query[members]) // _BATCH_CANDIDATES
            for group in np.split(members, np.flatnonzero(np.diff(group_of)) + 1):
                query, rows = self._pairs(block, group, first, lengths, radius)
                if limit is not None and len(query):
                    counts = np.bincount(query, weights=copies[rows], minlength=len(block))
                    too_many = counts > limit
                    over[begin + np.flatnonzero(too_many)] = True
                    kept = ~too_many[query]
                    query, rows = query[kept], rows[kept]
                found_queries.append(query + begin)
                found_rows.append(rows)
        if not found_queries:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.copy(), over
        return np.concatenate(found_queries), np.concatenate(found_rows), over

    def _pairs(
        self,
        block: np.ndarray,
        group: np.ndarray,
        first: np.ndarray,
        lengths: np.ndarray,
        radius: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Distinct (query in block, row) pairs within ``radius`` for the queries in ``group``."""
        starts = first[group].ravel()
        counts = lengths[group].ravel()
        total = int(counts.sum())
        if total == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.copy()
        owner = np.repeat(np.repeat(group, first.shape[1]), counts)
        offsets = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(total)
        rows = self._rows[offsets]
        # Two of the four words first: a random candidate is already far by then, so only
        # the few near ones pay for the other two (gathers dominate the cost).
        query_words = block.view(np.uint64)
        distance = np.bitwise_count(self._word_columns[0][rows] ^ query_words[owner, 0])
        distance += np.bitwise_count(self._word_columns[1][rows] ^ query_words[owner, 1])
        near = np.flatnonzero(distance <= radius)
        owner, rows, distance = owner[near], rows[near], distance[near]
        distance += np.bitwise_count(self._word_columns[2][rows] ^ query_words[owner, 2])
        distance += np.bitwise_count(self._word_columns[3][rows] ^ query_words[owner, 3])
        keep = distance <= radius
        rows = rows[keep].astype(np.int64)
        owner = owner[keep]
        pairs = np.unique(owner * len(self) + rows)
        return pairs // len(self), pairs % len(self)

    def _search_limited(
        self,
        code: np.ndarray,
        first: np.ndarray,
        lengths: np.ndarray,
        radius: int,
        limit: int | None,
        copies: np.ndarray,
    ) -> np.ndarray | None:
        """One query's matching rows, chunk by chunk; None as soon as they exceed ``limit``."""
        word = code.view(np.uint64)
        found: list[np.ndarray] = []
        probes = len(self._flips)
        for column in range(_CHUNKS):
            part = slice(column * probes, (column + 1) * probes)
            counts = lengths[part]
            total = int(counts.sum())
            if total == 0:
                continue
            offsets = np.repeat(first[part] - np.cumsum(counts) + counts, counts) + np.arange(total)
            rows = self._rows[offsets].astype(np.int64)
            near = rows[np.bitwise_count(self._words[rows] ^ word).sum(axis=1) <= radius]
            # A row sits in one bucket of each chunk's table, so one chunk's matches are
            # distinct: over the limit here is over the limit, with no de-duplication.
            if limit is not None and int(copies[near].sum()) > limit:
                return None
            found.append(near)
        rows = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
        if limit is not None and int(copies[rows].sum()) > limit:
            return None
        return rows


def brute_force(
    codes: np.ndarray, query: str, radius: int = PDQ_MATCH_DISTANCE
) -> list[tuple[int, int]]:
    """The reference: Hamming distance to every stored hash (for tests and the benchmark)."""
    code = hex_to_bytes(query)
    distances = np.bitwise_count(codes.view(np.uint64) ^ code.view(np.uint64)).sum(
        axis=1, dtype=np.int64
    )
    rows = np.flatnonzero(distances <= radius)
    return sorted(((int(r), int(distances[r])) for r in rows), key=lambda pair: (pair[1], pair[0]))


@dataclass
class BankEntry:
    hash: str  # PDQ: 64 hex digits; vPDQ: the JSON list of frames (tidewatch.detect.video)
    label: str = ""  # what it is: "testimonial", "advert image"...
    source: str = ""  # where it came from: a post, an exchange, an analyst
    tags: list[str] = field(default_factory=list)
    id: str = ""
    kind: str = "pdq"  # "pdq" (an image) or "vpdq" (a video)


#: ThreatExchange indicator types read and written, and python-threatexchange's names.
_TE_TYPES = {"HASH_PDQ": "pdq", "HASH_VIDEO_VPDQ": "vpdq", "VPDQ": "vpdq", "PDQ": "pdq"}
_TE_TYPE_OF = {"pdq": "HASH_PDQ", "vpdq": "HASH_VIDEO_VPDQ"}


@dataclass
class HashBank:
    """Known media hashes with their provenance; ThreatExchange descriptors in and out."""

    entries: list[BankEntry] = field(default_factory=list)
    _index: PDQIndex | None = None

    def add(self, entry: BankEntry) -> None:
        # Validated at the edge, and stored in one spelling so exports compare equal.
        if entry.kind == "vpdq":
            from tidewatch.detect.video import from_json, to_json

            entry.hash = to_json(from_json(entry.hash))
        elif entry.kind == "pdq":
            hex_to_bytes(entry.hash)
        else:
            raise MediaError(f"unknown media hash kind {entry.kind!r} (pdq or vpdq)")
        self.entries.append(entry)
        self._index = None

    def _pictures(self) -> list[BankEntry]:
        return [e for e in self.entries if e.kind == "pdq"]

    def index(self) -> PDQIndex:
        if self._index is None:
            pictures = self._pictures()
            codes = (
                hexes_to_codes([e.hash for e in pictures])
                if pictures
                else np.zeros((0, 32), np.uint8)
            )
            self._index = PDQIndex(codes)
        return self._index

    def match(self, query: str, radius: int = PDQ_MATCH_DISTANCE) -> list[tuple[BankEntry, int]]:
        """Pictures within ``radius`` of a PDQ hash, nearest first."""
        pictures = self._pictures()
        if not pictures:
            return []
        return [(pictures[row], distance) for row, distance in self.index().search(query, radius)]

    def match_video(self, frames: Sequence[Any]) -> list[tuple[BankEntry, tuple[float, float]]]:
        """Videos that match ``frames`` (a :func:`tidewatch.detect.video.vpdq_hash`), with
        the percent of the query's frames found in each and of each one's in the query."""
        from tidewatch.detect.video import VPDQ_MATCH_PERCENT, from_json, match_percent

        found = []
        for entry in self.entries:
            if entry.kind == "vpdq":
                shares = match_percent(frames, from_json(entry.hash))
                if max(shares) >= VPDQ_MATCH_PERCENT:
                    found.append((entry, shares))
        return sorted(found, key=lambda pair: -max(pair[1]))

    # --- ThreatExchange-style hash lists -----------------------------------------------------

    def import_threatexchange(
        self, document: Any, *, source: str = "threatexchange"
    ) -> tuple[int, list[str]]:
        """Read PDQ and vPDQ descriptors from a ThreatExchange response (``{"data": [...]}``,
        an id -> descriptor map, or one descriptor). Returns (imported, problems); descriptors
        of other types are skipped and named, never silently dropped. A vPDQ descriptor's
        ``raw_indicator`` is python-threatexchange's signal string (HASH_VIDEO_VPDQ)."""
        descriptors = _descriptors(document)
        imported = 0
        problems: list[str] = []
        for descriptor in descriptors:
            kind = str(descriptor.get("type", ""))
            ident = str(descriptor.get("id", ""))
            if kind.upper() not in _TE_TYPES:
                problems.append(
                    f"descriptor {ident or '?'}: type {kind or 'missing'} is not HASH_PDQ"
                    " or HASH_VIDEO_VPDQ; skipped"
                )
                continue
            try:
                tags = [
                    str(t.get("text", "")) for t in (descriptor.get("tags") or {}).get("data", [])
                ]
                self.add(
                    BankEntry(
                        hash=str(descriptor.get("raw_indicator", "")),
                        label=str(descriptor.get("description", "")),
                        source=source,
                        tags=tags,
                        id=ident,
                        kind=_TE_TYPES[kind.upper()],
                    )
                )
                imported += 1
            except (MediaError, AttributeError, TypeError) as error:
                problems.append(f"descriptor {ident or '?'}: {error}")
        return imported, problems

    def export_threatexchange(self) -> dict[str, Any]:
        return {
            "data": [
                {
                    "id": e.id,
                    "raw_indicator": e.hash,
                    "type": _TE_TYPE_OF[e.kind],
                    "description": e.label,
                    "tags": {"data": [{"text": t} for t in e.tags]},
                    "share_level": "AMBER",
                }
                for e in self.entries
            ]
        }


def _descriptors(document: Any) -> Sequence[dict[str, Any]]:
    if isinstance(document, dict) and isinstance(document.get("data"), list):
        return [d for d in document["data"] if isinstance(d, dict)]
    if isinstance(document, dict) and "raw_indicator" in document:
        return [document]
    if isinstance(document, dict):
        return [d for d in document.values() if isinstance(d, dict)]
    if isinstance(document, list):
        return [d for d in document if isinstance(d, dict)]
    raise MediaError("not a ThreatExchange descriptor document")
