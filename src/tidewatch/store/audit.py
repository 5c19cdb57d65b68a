"""The audit trail: an append-only, hash-chained log of who did what, when, to what.

Every entry's hash covers its own fields and the previous entry's hash, so changing, removing
or reordering any entry breaks the chain from that point on; :func:`verify` names the first
entry that does not fit. The chain's tip also lives in the one-row ``audit_head`` table, so
cutting entries off the end is caught too.

Appends go through :func:`record` inside the caller's transaction: the action and its audit
entry commit together or not at all. Updating ``audit_head`` first takes a lock (a row lock
on PostgreSQL, the database write lock on SQLite) that serialises concurrent appends.
Anyone able to rewrite the whole table and the head can forge a new chain; anchor the head
hash outside the database (the evidence seal and the published report quote it) for that.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select, update

from tidewatch.store import tables as t

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    before: Any
    after: Any
    prev_hash: str
    hash: str


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (times as ISO 8601 UTC), so it hashes the same when read back."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    return value


def entry_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    before: Any,
    after: Any,
    prev_hash: str,
) -> str:
    body = {
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(),
        "actor": actor,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "before": before,
        "after": after,
        "prev": prev_hash,
    }
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: object,
    before: Any = None,
    after: Any = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry in ``conn``'s transaction and return it."""
    at = (at or datetime.now(UTC)).astimezone(UTC)
    before, after = jsonable(before), jsonable(after)
    seq, prev_hash = conn.execute(
        update(t.audit_head)
        .where(t.audit_head.c.id == 1)
        .values(seq=t.audit_head.c.seq + 1)
        .returning(t.audit_head.c.seq, t.audit_head.c.hash)
    ).one()
    fields = {
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "entity": entity,
        "entity_id": str(entity_id),
        "before": before,
        "after": after,
        "prev_hash": prev_hash,
    }
    digest = entry_hash(**fields)
    conn.execute(insert(t.audit_log).values(**fields, hash=digest))
    conn.execute(update(t.audit_head).where(t.audit_head.c.id == 1).values(hash=digest))
    return AuditEntry(**fields, hash=digest)


def entries(
    conn: Connection, *, entity: str | None = None, entity_id: object | None = None
) -> list[AuditEntry]:
    query = select(t.audit_log).order_by(t.audit_log.c.seq)
    if entity is not None:
        query = query.where(t.audit_log.c.entity == entity)
    if entity_id is not None:
        query = query.where(t.audit_log.c.entity_id == str(entity_id))
    return [
        AuditEntry(
            seq=row.seq,
            at=row.at,
            actor=row.actor,
            action=row.action,
            entity=row.entity,
            entity_id=row.entity_id,
            before=row.before,
            after=row.after,
            prev_hash=row.prev_hash,
            hash=row.hash,
        )
        for row in conn.execute(query)
    ]


@dataclass(frozen=True)
class AuditReport:
    entries: int
    problem: str | None  # the first thing wrong, or None when the chain is intact
    seq: int | None = None  # the entry it concerns

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(conn: Connection) -> AuditReport:
    """Walk the chain from the genesis hash; report the first entry that does not fit."""
    expected_seq, prev = 1, GENESIS
    count = 0
    for entry in entries(conn):
        count += 1
        if entry.seq != expected_seq:
            return AuditReport(
                count,
                f"entry {expected_seq} is missing (the next entry is {entry.seq})",
                expected_seq,
            )
        if entry.prev_hash != prev:
            return AuditReport(
                count,
                f"entry {entry.seq} does not follow entry {entry.seq - 1} "
                "(its previous-hash differs: entries were removed, reordered or replaced)",
                entry.seq,
            )
        recomputed = entry_hash(
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            entity=entry.entity,
            entity_id=entry.entity_id,
            before=entry.before,
            after=entry.after,
            prev_hash=entry.prev_hash,
        )
        if recomputed != entry.hash:
            return AuditReport(
                count,
                f"entry {entry.seq} was changed after it was written "
                f"({entry.action} on {entry.entity} {entry.entity_id} by {entry.actor})",
                entry.seq,
            )
        prev, expected_seq = entry.hash, entry.seq + 1
    head_seq, head_hash = conn.execute(
        select(t.audit_head.c.seq, t.audit_head.c.hash).where(t.audit_head.c.id == 1)
    ).one()
    if head_seq != expected_seq - 1 or head_hash != prev:
        return AuditReport(
            count,
            f"the log ends at entry {expected_seq - 1} but its head records entry {head_seq} "
            "(entries were removed from the end)",
            expected_seq,
        )
    return AuditReport(count, None)
