"""Detections in the database: one row per (post, model version, text version)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from tidewatch.model import ENTITY_SIGNALS, Detection, Post, text_sha256
from tidewatch.store import tables as t
from tidewatch.store.writer import _bulk_insert, _chunks, _existing_by_key, _in


def save_detections(conn: Connection, pairs: Sequence[tuple[Post, Detection]]) -> int:
    """Store detections of posts that are already in the database; returns how many were new.
    Scanning the same text with the same model again adds nothing."""
    if not pairs:
        return 0
    keys = list({post.key for post, _ in pairs})
    ids = {key: row[0] for key, row in _existing_by_key(conn, t.posts, keys, ()).items()}
    missing = [key for key in keys if key not in ids]
    if missing:
        raise ValueError(f"detections for posts not in the database: {missing[:3]}")
    candidates = {
        (ids[post.key], detection.model_version, text_sha256(post.detectable_text)): (
            post,
            detection,
        )
        for post, detection in pairs
    }
    stored: set[tuple[int, str, str]] = set()
    post_ids = sorted({key[0] for key in candidates})
    for chunk in _chunks(post_ids):
        query = select(
            t.detections.c.post_id, t.detections.c.model_version, t.detections.c.text_sha256
        ).where(_in(conn, t.detections.c.post_id, chunk))
        stored.update((row[0], row[1], row[2]) for row in conn.execute(query))
    now = datetime.now(UTC)
    rows = [
        {
            "post_id": post_id,
            "text_sha256": sha,
            "model_version": version,
            "score": detection.score,
            "label": detection.label,
            "lang": detection.lang,
            "categories": list(detection.categories),
            "reasons": [reason.model_dump() for reason in detection.reasons],
            "detected_at": now,
            "entity_reasons": [
                reason.model_dump()
                for reason in detection.reasons
                if reason.signal in ENTITY_SIGNALS
            ],
        }
        for (post_id, version, sha), (_post, detection) in candidates.items()
        if (post_id, version, sha) not in stored
    ]
    _bulk_insert(conn, t.detections, rows)
    return len(rows)
