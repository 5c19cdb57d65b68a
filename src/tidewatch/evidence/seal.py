"""Seal a capture: a manifest listing every artifact with its SHA-256, signed with the unit's
Ed25519 key, and optionally timestamped by RFC 3161 authorities. After sealing a capture
takes no more artifacts; anything that changes a byte breaks the seal."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, select, update

from tidewatch.errors import Conflict, NotFound
from tidewatch.evidence import custody, keys, timestamps
from tidewatch.store import audit
from tidewatch.store import tables as t

SCHEMA = "tidewatch.evidence/1"


def canonical(value: Any) -> bytes:
    """The one byte form of a JSON document that is signed and hashed."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def build_manifest(
    conn: Connection, capture_id: int, *, sealed_at: datetime, fingerprint: str
) -> dict[str, Any]:
    capture = conn.execute(select(t.captures).where(t.captures.c.id == capture_id)).first()
    if capture is None:
        raise NotFound(f"no capture {capture_id}")
    artifacts = conn.execute(
        select(t.artifacts)
        .where(t.artifacts.c.capture_id == capture_id)
        .order_by(t.artifacts.c.path)
    ).all()
    return {
        "schema": SCHEMA,
        "capture_id": capture_id,
        "case_id": capture.case_id,
        "title": capture.title,
        "created_by": capture.created_by,
        "created_at": capture.created_at.astimezone(UTC).isoformat(),
        "sealed_at": sealed_at.astimezone(UTC).isoformat(),
        "key_fingerprint": fingerprint,
        "hash": "sha256",
        "artifacts": [
            {
                "path": a.path,
                "kind": a.kind,
                "sha256": a.sha256,
                "size": a.size,
                "subject": a.subject,
                "source_url": a.source_url,
                "captured_at": a.captured_at.astimezone(UTC).isoformat(),
                "third_party_data": a.has_third_party_data,
            }
            for a in artifacts
        ],
    }


def seal_capture(
    conn: Connection,
    capture_id: int,
    *,
    actor: str,
    signing_key: Any = None,
    tsa_urls: Sequence[str] = (),
) -> dict[str, Any]:
    """Sign the capture's manifest (in the caller's transaction); returns the manifest."""
    key = signing_key or keys.load_or_create()
    fingerprint = keys.fingerprint(key.public_key())
    status = conn.execute(select(t.captures.c.status).where(t.captures.c.id == capture_id)).scalar()
    if status != "open":
        raise Conflict(f"capture {capture_id} is {status}; only an open capture is sealed")
    now = datetime.now(UTC)
    manifest = build_manifest(conn, capture_id, sealed_at=now, fingerprint=fingerprint)
    data = canonical(manifest)
    digest = hashlib.sha256(data).hexdigest()
    signature = key.sign(data).hex()
    stamps = [timestamps.request(url, data) for url in tsa_urls]
    conn.execute(
        update(t.captures)
        .where(t.captures.c.id == capture_id)
        .values(
            status="sealed",
            manifest=data.decode(),
            manifest_sha256=digest,
            signature=signature,
            key_fingerprint=fingerprint,
            public_key=keys.public_pem(key),
            timestamps=stamps,
            sealed_at=now,
        )
    )
    custody.record(
        conn,
        capture_id,
        actor=actor,
        event="sealed",
        detail={
            "manifest_sha256": digest,
            "key_fingerprint": fingerprint,
            "timestamps": len([s for s in stamps if s.get("token")]),
        },
        at=now,
    )
    audit.record(
        conn,
        actor=actor,
        action="evidence.seal",
        entity="capture",
        entity_id=capture_id,
        after={"manifest_sha256": digest, "artifacts": len(manifest["artifacts"])},
    )
    return manifest
