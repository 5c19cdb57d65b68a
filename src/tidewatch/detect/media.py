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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PDQ_BITS = 256
PDQ_MATCH_DISTANCE = 31
_CHUNKS = 16
_CHUNK_BITS = PDQ_BITS // _CHUNKS
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


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
    if len(text) != PDQ_BITS // 4 or any(c not in "0123456789abcdef" for c in text):
        raise MediaError(f"{value[:80]!r} is not a 64-digit hexadecimal PDQ hash")
    return np.frombuffer(bytes.fromhex(text), dtype=np.uint8)


def hamming(a: str, b: str) -> int:
    return int(_POPCOUNT[np.bitwise_xor(hex_to_bytes(a), hex_to_bytes(b))].sum())


class PDQIndex:
    """Exact radius search over many PDQ hashes (multi-index hashing, see module doc)."""

    def __init__(self, hashes: np.ndarray) -> None:
        """``hashes``: uint8 array of shape (n, 32)."""
        self.codes = np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, PDQ_BITS // 8)
        self._words = self.codes.view(np.uint64)  # four 64-bit words a hash, for popcounts
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
    hash: str
    label: str = ""  # what it is: "testimonial", "advert image"...
    source: str = ""  # where it came from: a post, an exchange, an analyst
    tags: list[str] = field(default_factory=list)
    id: str = ""


@dataclass
class HashBank:
    """Known media hashes with their provenance; ThreatExchange descriptors in and out."""

    entries: list[BankEntry] = field(default_factory=list)
    _index: PDQIndex | None = None

    def add(self, entry: BankEntry) -> None:
        hex_to_bytes(entry.hash)  # validate at the edge
        self.entries.append(entry)
        self._index = None

    def index(self) -> PDQIndex:
        if self._index is None:
            codes = (
                np.vstack([hex_to_bytes(e.hash) for e in self.entries])
                if self.entries
                else np.zeros((0, 32), np.uint8)
            )
            self._index = PDQIndex(codes)
        return self._index

    def match(self, query: str, radius: int = PDQ_MATCH_DISTANCE) -> list[tuple[BankEntry, int]]:
        if not self.entries:
            return []
        return [
            (self.entries[row], distance) for row, distance in self.index().search(query, radius)
        ]

    # --- ThreatExchange-style hash lists -----------------------------------------------------

    def import_threatexchange(
        self, document: Any, *, source: str = "threatexchange"
    ) -> tuple[int, list[str]]:
        """Read PDQ descriptors from a ThreatExchange response (``{"data": [...]}``, an
        id -> descriptor map, or one descriptor). Returns (imported, problems); descriptors of
        other types are skipped and named, never silently dropped."""
        descriptors = _descriptors(document)
        imported = 0
        problems: list[str] = []
        for descriptor in descriptors:
            kind = str(descriptor.get("type", ""))
            ident = str(descriptor.get("id", ""))
            if kind != "HASH_PDQ":
                problems.append(
                    f"descriptor {ident or '?'}: type {kind or 'missing'} is not HASH_PDQ; skipped"
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
                    "type": "HASH_PDQ",
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
