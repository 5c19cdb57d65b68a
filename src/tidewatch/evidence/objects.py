"""Artifact bytes, stored once by SHA-256 (the same raw page captured twice is one object)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select

from tidewatch.errors import NotFound
from tidewatch.store import tables as t

#: ``media_signals.bytes_from`` of signals computed from bytes kept here: what retention looks
#: for when it purges objects.
BYTES_FROM = "evidence"


def put_many(conn: Connection, items: list[tuple[bytes, str]]) -> list[str]:
    """Store many (content, media type) at once; returns their SHA-256s in order."""
    digests = [hashlib.sha256(content).hexdigest() for content, _ in items]
    wanted = sorted(set(digests))
    stored: set[str] = set()
    for start in range(0, len(wanted), 500):
        stored.update(
            conn.execute(
                select(t.evidence_objects.c.sha256).where(
                    t.evidence_objects.c.sha256.in_(wanted[start : start + 500])
                )
            ).scalars()
        )
    now = datetime.now(UTC)
    rows: dict[str, dict[str, object]] = {}
    for digest, (content, media_type) in zip(digests, items, strict=True):
        if digest not in stored and digest not in rows:
            rows[digest] = {
                "sha256": digest,
                "size": len(content),
                "media_type": media_type,
                "content": content,
                "stored_at": now,
            }
    if rows:
        conn.execute(insert(t.evidence_objects), list(rows.values()))
    return digests


def get(conn: Connection, digest: str) -> bytes:
    row = conn.execute(
        select(t.evidence_objects.c.content, t.evidence_objects.c.purged_at).where(
            t.evidence_objects.c.sha256 == digest
        )
    ).first()
    if row is None:
        raise NotFound(f"no evidence object {digest}")
    if row.content is None:
        raise NotFound(f"evidence object {digest} was purged at {row.purged_at:%Y-%m-%d}")
    content: bytes = row.content
    if hashlib.sha256(content).hexdigest() != digest:
        # Storage corruption or tampering in the database: never hand such bytes on.
        raise ValueError(f"evidence object {digest} no longer matches its hash")
    return content
