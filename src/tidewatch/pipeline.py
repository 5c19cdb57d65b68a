"""Stages wired together: read -> (store) -> detect -> (store detections) -> output.

This is the one place that joins ingest, store and detect, so that detection itself never
touches a database (DESIGN.md) and the CLI stays a thin shell.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

import orjson
from sqlalchemy import Connection, Engine, func, or_, select

from tidewatch.errors import RecordError
from tidewatch.model import Bundle, Detection, Post
from tidewatch.store import tables as t
from tidewatch.store.detections import save_detections
from tidewatch.store.writer import write_batch

if TYPE_CHECKING:
    # Types only: importing detection (scikit-learn, SciPy) and linking (networkx) costs
    # seconds that `tidewatch ingest` without --detect should not pay.
    from tidewatch.detect.detector import Detector
    from tidewatch.link.networks import AccountFacts, PostFacts

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


def link_facts(engine: Engine, model_version: str) -> tuple[list[AccountFacts], list[PostFacts]]:
    """Accounts and posts with the detections of ``model_version``, as the link stage takes them."""
    from tidewatch.link.networks import AccountFacts, PostFacts

    detections = (
        select(
            t.detections.c.post_id,
            t.detections.c.score,
            t.detections.c.label,
            t.detections.c.lang,
        )
        .where(t.detections.c.model_version == model_version)
        .subquery()
    )
    query = select(
        t.posts.c.platform,
        t.posts.c.native_id,
        t.posts.c.account_native_id,
        t.posts.c.title,
        t.posts.c.text,
        t.posts.c.created_at,
        detections.c.score,
        detections.c.label,
        detections.c.lang,
    ).join(detections, detections.c.post_id == t.posts.c.id)
    posts: dict[tuple[str, str], PostFacts] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            key = (row.platform, row.native_id)
            # Several detections of one post (edited texts): the highest score speaks for it.
            if key in posts and posts[key].score >= row.score:
                continue
            posts[key] = PostFacts(
                key=key,
                account=(row.platform, row.account_native_id or f"unknown:{row.native_id}"),
                text="\n".join(part for part in (row.title, row.text) if part),
                lang=row.lang,
                score=row.score,
                label=row.label,
                created_at=row.created_at,
            )
        _add_media(conn, posts)
        removed = _removals(conn)
        accounts = [
            AccountFacts(
                key=(row.platform, row.native_id),
                handle=row.handle,
                display_name=row.display_name,
                bio=row.bio,
                links=tuple(row.links or ()),
                first_seen=row.created_at or row.first_seen_at,
                removed_at=removed.get((row.platform, row.native_id)),
            )
            for row in conn.execute(
                select(
                    t.accounts.c.platform,
                    t.accounts.c.native_id,
                    t.accounts.c.handle,
                    t.accounts.c.display_name,
                    t.accounts.c.bio,
                    t.accounts.c.links,
                    t.accounts.c.created_at,
                    t.accounts.c.first_seen_at,
                )
            )
        ]
    return accounts, list(posts.values())


def _add_media(conn: Connection, posts: dict[tuple[str, str], PostFacts]) -> None:
    """The PDQ hashes and vPDQ frame hashes the media stage stored for these posts (only
    what is fit to match: PDQ quality 50 or more, each video's distinct good frames), and
    the text read in their pictures."""
    from tidewatch.detect.media import PDQ_MIN_QUALITY
    from tidewatch.detect.video import comparable, from_json

    pictures: dict[tuple[str, str], list[str]] = {}
    videos: dict[tuple[str, str], list[tuple[str, ...]]] = {}
    texts: dict[tuple[str, str], list[str]] = {}
    query = (
        select(
            t.posts.c.platform,
            t.posts.c.native_id,
            t.media_signals.c.kind,
            t.media_signals.c.hash,
            t.media_signals.c.quality,
            t.media_signals.c.ocr_text,
        )
        .join(t.posts, t.posts.c.id == t.media_signals.c.post_id)
        .order_by(t.media_signals.c.id)
    )
    for platform, native_id, kind, value, quality, ocr_text in conn.execute(query):
        key = (platform, native_id)
        if key not in posts:
            continue
        if ocr_text:
            texts.setdefault(key, []).append(ocr_text)
        if kind == "pdq" and quality >= PDQ_MIN_QUALITY:
            pictures.setdefault(key, []).append(value)
        elif kind == "vpdq":
            frames = tuple(comparable(from_json(value)))
            if frames:
                videos.setdefault(key, []).append(frames)
    for key in pictures.keys() | videos.keys() | texts.keys():
        posts[key] = replace(
            posts[key],
            # The same bytes from an export and from evidence are one picture, not two.
            media_hashes=tuple(dict.fromkeys(pictures.get(key, ()))),
            videos=tuple(dict.fromkeys(videos.get(key, ()))),
            image_text="\n".join(dict.fromkeys(texts.get(key, ()))),
        )


_GONE = ("suspended", "deleted", "not_found")


def _removals(conn: Connection) -> dict[tuple[str, str], datetime]:
    """When each account was first seen gone: an observation saying so, or a platform error
    about the user (X's "User has been suspended"). The platform is the source's platform."""
    removed: dict[tuple[str, str], datetime] = {}
    observations = (
        select(t.accounts.c.platform, t.accounts.c.native_id, t.account_observations.c.observed_at)
        .join(t.accounts, t.accounts.c.id == t.account_observations.c.account_id)
        .where(t.account_observations.c.availability.in_(_GONE))
    )
    errors = (
        select(
            t.accounts.c.platform,
            t.accounts.c.native_id,
            func.coalesce(t.source_records.c.retrieved_at, t.source_records.c.ingested_at),
        )
        .select_from(t.api_errors)
        .join(t.source_records, t.source_records.c.id == t.api_errors.c.source_id)
        # X names suspended users by username in its errors, other platforms by id.
        .join(
            t.accounts,
            or_(
                t.accounts.c.native_id == t.api_errors.c.resource_id,
                func.lower(t.accounts.c.handle) == func.lower(t.api_errors.c.resource_id),
            ),
        )
        .where(t.api_errors.c.kind.in_(_GONE), t.api_errors.c.resource_type == "user")
    )
    for platform, native_id, moment in [*conn.execute(observations), *conn.execute(errors)]:
        key = (platform, native_id)
        if moment is not None and (key not in removed or moment < removed[key]):
            removed[key] = moment
    return removed
