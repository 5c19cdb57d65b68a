"""Stages wired together: read -> (store) -> detect -> (store detections) -> output.

This is the one place that joins ingest, store and detect, so that detection itself never
touches a database (DESIGN.md) and the CLI stays a thin shell.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import orjson
from sqlalchemy import Connection, Engine

from tidewatch.detect.detector import Detector
from tidewatch.errors import RecordError
from tidewatch.model import Bundle, Detection, Post
from tidewatch.store.detections import save_detections
from tidewatch.store.writer import write_batch

SCAN_BATCH_POSTS = 512


@dataclass
class ScanReport:
    posts: int = 0
    adverts: int = 0
    errors: int = 0
    stored_detections: int = 0
    error_samples: list[str] = field(default_factory=list)


def contract_json(post: Post, detection: Detection) -> bytes:
    """One line of the ``tidewatch scan`` contract (DESIGN.md)."""
    record = {
        "id": post.native_id,
        "platform": post.platform.value,
        "account": post.account_id,
        "score": detection.score,
        "label": detection.label,
        "lang": detection.lang,
        "categories": detection.categories,
        "reasons": [
            {
                "signal": r.signal,
                "evidence": r.evidence,
                "weight": r.weight,
                "start": r.start,
                "end": r.end,
            }
            for r in detection.reasons
        ],
    }
    return orjson.dumps(record)


def scan(
    items: Iterable[Bundle | RecordError],
    detector: Detector,
    *,
    engine: Engine | None = None,
    on_error: Callable[[RecordError], None] | None = None,
    batch_posts: int = SCAN_BATCH_POSTS,
) -> Iterator[tuple[Post, Detection]]:
    """Detections for every post of ``items``, in input order, in batches. With ``engine``
    the bundles and their detections are stored too (one transaction per batch)."""
    bundles: list[Bundle] = []
    pending = 0
    for item in items:
        if isinstance(item, RecordError):
            if on_error:
                on_error(item)
            continue
        bundles.append(item)
        pending += len(item.posts)
        if pending >= batch_posts:
            yield from _scan_batch(bundles, detector, engine)
            bundles, pending = [], 0
    if bundles:
        yield from _scan_batch(bundles, detector, engine)


def _scan_batch(
    bundles: list[Bundle], detector: Detector, engine: Engine | None
) -> Iterator[tuple[Post, Detection]]:
    posts = [post for bundle in bundles for post in bundle.posts]
    detections = detector.detect_posts(posts)
    pairs = list(zip(posts, detections, strict=True))
    if engine is not None:
        with engine.begin() as conn:
            write_batch(conn, bundles)
            save_detections(conn, pairs)
    yield from pairs


def detect_and_save(detector: Detector) -> Callable[[Connection, list[Bundle]], None]:
    """A loader hook that detects the posts of each batch and stores the detections in the
    batch's own transaction (``tidewatch ingest --detect``)."""

    def hook(conn: Connection, bundles: list[Bundle]) -> None:
        posts = [post for bundle in bundles for post in bundle.posts]
        save_detections(conn, list(zip(posts, detector.detect_posts(posts), strict=True)))

    return hook
