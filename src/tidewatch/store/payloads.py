"""How a source record's raw payload is stored: as a Zstandard frame when that is smaller.

The raw payload is most of what an ingest writes: an X API page is about 110 KB of JSON for
100 posts, 1.1 GB of the 1,000,000 posts of ``bench/ingest.py``. SQLite stores a value as it
is given, and PostgreSQL compressed it on the server, on the same cores as the parsing
workers. Packed in the workers (:func:`tidewatch.store.writer.prepare_record`), it crosses
to the writing process and into the database about eleven times smaller, for about 1.5 us
of a worker's CPU a post.

The stored form says which it is. A value that begins with Zstandard's frame magic is a
frame; any other value is the payload itself (small ones, which a frame would not shrink, and
rows stored before migration 0012). A payload that itself begins with the magic is always
packed, so the two can never be confused; 0012 packed the stored rows that began with it.
What comes back from :func:`unpack` is the payload byte for byte: its SHA-256 is the record's.
"""

from __future__ import annotations

import threading
from typing import Any

import zstandard
from sqlalchemy import Dialect, LargeBinary, TypeDecorator

#: Zstandard's frame magic number (RFC 8878, section 3.1.1), as it is stored: little-endian.
FRAME_MAGIC = b"\x28\xb5\x2f\xfd"
#: Zstandard's default level: at level 1 an X page packed 2% larger for 25% less CPU.
LEVEL = 3


_local = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    """This thread's compressor: reusing one saves setting up its tables for every payload
    (2.1 -> 1.5 us a post for X pages), and one must not be used by two threads at once."""
    try:
        return _local.compressor
    except AttributeError:
        _local.compressor = compressor = zstandard.ZstdCompressor(level=LEVEL)
        return compressor


def pack(payload: bytes) -> bytes:
    """The stored form of ``payload``."""
    if not payload:
        return payload  # an empty payload is how the retention purge marks deleted bytes
    frame = _compressor().compress(payload)
    if len(frame) < len(payload) or payload.startswith(FRAME_MAGIC):
        return frame
    return payload


def unpack(stored: bytes) -> bytes:
    """The payload of a stored value."""
    if stored.startswith(FRAME_MAGIC):
        # The frame's header carries the payload's size (pack writes it), so the output is
        # allocated once, at that size.
        return zstandard.decompress(stored)
    return stored


class RawPayload(TypeDecorator[bytes]):
    """``source_records.raw``: payloads in, payloads out; packed in the database.

    The ingest's writer packs in its workers and binds the stored form itself, past this
    type; everything that reads or writes through SQLAlchemy goes through it."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        return None if value is None else pack(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> bytes | None:
        return None if value is None else unpack(value)
