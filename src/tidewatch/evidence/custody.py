"""The custody log of a capture: every event on its artifacts (captured, sealed, viewed,
exported, disclosed, deleted), with actor and time, in a hash chain.

One chain per capture, so an export carries exactly its own history and nobody else's. The
chain's tip lives on the capture row, which each append updates first: that serialises
appends (as the audit log does) and lets a verifier notice events cut from the end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select, update

from tidewatch.store import tables as t

GENESIS = "0" * 64
EVENTS = ("captured", "sealed", "viewed", "exported", "disclosed", "deleted")


@dataclass(frozen=True)
class CustodyEvent:
    seq: int
    at: str  # ISO 8601 UTC, as hashed
    actor: str
    event: str
    artifact_sha256: str | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "event": self.event,
            "artifact_sha256": self.artifact_sha256,
            "detail": self.detail,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def event_hash(
    *,
    capture_id: int,
    seq: int,
    at: str,
    actor: str,
    event: str,
    artifact_sha256: str | None,
    detail: dict[str, Any],
    prev_hash: str,
) -> str:
    body = {
        "capture": capture_id,
        "seq": seq,
        "at": at,
        "actor": actor,
        "event": event,
        "artifact": artifact_sha256,
        "detail": detail,
        "prev": prev_hash,
    }
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def record(
    conn: Connection,
    capture_id: int,
    *,
    actor: str,
    event: str,
    artifact_sha256: str | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> CustodyEvent:
    if event not in EVENTS:
        raise ValueError(f"custody event must be one of {', '.join(EVENTS)}, not {event!r}")
    stamp = (at or datetime.now(UTC)).astimezone(UTC)
    detail = detail or {}
    seq, prev = conn.execute(
        update(t.captures)
        .where(t.captures.c.id == capture_id)
        .values(custody_seq=t.captures.c.custody_seq + 1)
        .returning(t.captures.c.custody_seq, t.captures.c.custody_head)
    ).one()
    fields = {
        "seq": seq,
        "at": stamp.isoformat(),
        "actor": actor,
        "event": event,
        "artifact_sha256": artifact_sha256,
        "detail": detail,
        "prev_hash": prev,
    }
    digest = event_hash(capture_id=capture_id, **fields)
    conn.execute(
        insert(t.custody_events).values(
            capture_id=capture_id,
            seq=seq,
            at=stamp,
            actor=actor,
            event=event,
            artifact_sha256=artifact_sha256,
            detail=detail,
            prev_hash=prev,
            hash=digest,
        )
    )
    conn.execute(
        update(t.captures).where(t.captures.c.id == capture_id).values(custody_head=digest)
    )
    return CustodyEvent(**fields, hash=digest)


def record_many(
    conn: Connection,
    capture_id: int,
    entries: list[tuple[str, str | None, dict[str, Any]]],
    *,
    actor: str,
    at: datetime | None = None,
) -> list[CustodyEvent]:
    """Append ``entries`` ((event, artifact sha256, detail), in order) with one head update
    and one multi-row insert: a capture of hundreds of artifacts is one round trip, not
    hundreds."""
    if not entries:
        return []
    for event, _, _ in entries:
        if event not in EVENTS:
            raise ValueError(f"custody event must be one of {', '.join(EVENTS)}, not {event!r}")
    stamp = (at or datetime.now(UTC)).astimezone(UTC)
    last, prev = conn.execute(
        update(t.captures)
        .where(t.captures.c.id == capture_id)
        .values(custody_seq=t.captures.c.custody_seq + len(entries))
        .returning(t.captures.c.custody_seq, t.captures.c.custody_head)
    ).one()
    made: list[CustodyEvent] = []
    for offset, (event, artifact, detail) in enumerate(entries):
        fields = {
            "seq": last - len(entries) + 1 + offset,
            "at": stamp.isoformat(),
            "actor": actor,
            "event": event,
            "artifact_sha256": artifact,
            "detail": detail,
            "prev_hash": prev,
        }
        prev = event_hash(capture_id=capture_id, **fields)
        made.append(CustodyEvent(**fields, hash=prev))
    conn.execute(
        insert(t.custody_events),
        [
            {
                "capture_id": capture_id,
                "seq": e.seq,
                "at": stamp,
                "actor": e.actor,
                "event": e.event,
                "artifact_sha256": e.artifact_sha256,
                "detail": e.detail,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e in made
        ],
    )
    conn.execute(update(t.captures).where(t.captures.c.id == capture_id).values(custody_head=prev))
    return made


def events(conn: Connection, capture_id: int) -> list[CustodyEvent]:
    rows = conn.execute(
        select(t.custody_events)
        .where(t.custody_events.c.capture_id == capture_id)
        .order_by(t.custody_events.c.seq)
    )
    return [
        CustodyEvent(
            seq=row.seq,
            at=row.at.astimezone(UTC).isoformat(),
            actor=row.actor,
            event=row.event,
            artifact_sha256=row.artifact_sha256,
            detail=dict(row.detail or {}),
            prev_hash=row.prev_hash,
            hash=row.hash,
        )
        for row in rows
    ]


def chain_problem(capture_id: int, chain: Iterable[dict[str, Any]], head: str | None) -> str | None:
    """The first thing wrong with a custody chain (as exported), or None. ``head`` is the
    hash the chain must end at (signed into the export), which catches events cut off."""
    prev, expected = GENESIS, 1
    for entry in chain:
        seq = entry.get("seq")
        if seq != expected:
            return f"custody event {expected} is missing or out of order (found event {seq})"
        if entry.get("prev_hash") != prev:
            return f"custody event {seq} does not follow event {expected - 1} (events removed or reordered)"
        recomputed = event_hash(
            capture_id=capture_id,
            seq=seq,
            at=entry["at"],
            actor=entry["actor"],
            event=entry["event"],
            artifact_sha256=entry.get("artifact_sha256"),
            detail=entry.get("detail") or {},
            prev_hash=entry["prev_hash"],
        )
        if recomputed != entry.get("hash"):
            return f"custody event {seq} ({entry.get('event')}) was changed after it was written"
        prev, expected = entry["hash"], expected + 1
    if head is not None and prev != head:
        return f"the custody log ends at event {expected - 1} but the export recorded a later head (events removed from the end)"
    return None
