"""Read side of the store, by concern: posts and accounts as domain types with their history."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, select

from tidewatch.model import (
    Account,
    AccountObservation,
    Availability,
    Media,
    Metrics,
    Platform,
    Post,
    PostKind,
    PostObservation,
    PostVersion,
    Stamp,
)
from tidewatch.store import tables as t
from tidewatch.store.writer import _in


def _stamp(row: Row[Any], name: str) -> Stamp | None:
    value = row._mapping[name]
    raw = row._mapping[f"{name}_raw"]
    return Stamp(utc=value, raw=raw) if value is not None else None


class PostRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(t.posts)).scalar_one()

    def get(self, platform: str, native_id: str) -> Post | None:
        with self.engine.connect() as conn:
            post_id = conn.execute(
                select(t.posts.c.id).where(
                    t.posts.c.platform == platform, t.posts.c.native_id == native_id
                )
            ).scalar()
            if post_id is None:
                return None
            [(_, post)] = load_posts(conn, [post_id])
        return post

    def iter_posts(self, batch_size: int = 1000) -> Iterator[Post]:
        """Every post in id order, streamed in pages (keyset pagination, bounded memory)."""
        last_id = 0
        while True:
            with self.engine.connect() as conn:
                ids = list(
                    conn.execute(
                        select(t.posts.c.id)
                        .where(t.posts.c.id > last_id)
                        .order_by(t.posts.c.id)
                        .limit(batch_size)
                    ).scalars()
                )
                if not ids:
                    return
                page = load_posts(conn, ids)
            for _, post in page:
                yield post
            last_id = ids[-1]

    def versions(self, platform: str, native_id: str) -> list[PostVersion]:
        query = (
            select(t.post_versions)
            .join(t.posts)
            .where(t.posts.c.platform == platform, t.posts.c.native_id == native_id)
            .order_by(t.post_versions.c.version_no)
        )
        with self.engine.connect() as conn:
            return [
                PostVersion(
                    post_key=(platform, native_id),
                    version_no=row.version_no,
                    version_id=row.version_native_id,
                    text=row.text,
                    text_sha256=row.text_sha256,
                    edited_at=row.edited_at,
                    first_seen_at=row.first_seen_at,
                )
                for row in conn.execute(query)
            ]

    def observations(self, platform: str, native_id: str) -> list[PostObservation]:
        query = (
            select(t.post_observations, t.source_records.c.sha256)
            .join(t.posts, t.posts.c.id == t.post_observations.c.post_id)
            .join(t.source_records, t.source_records.c.id == t.post_observations.c.source_id)
            .where(t.posts.c.platform == platform, t.posts.c.native_id == native_id)
            .order_by(t.post_observations.c.observed_at, t.post_observations.c.id)
        )
        with self.engine.connect() as conn:
            return [
                PostObservation(
                    post_key=(platform, native_id),
                    observed_at=row.observed_at,
                    source_sha256=row.sha256,
                    availability=Availability(row.availability),
                    metrics=Metrics(
                        likes=row.likes,
                        shares=row.shares,
                        comments=row.comments,
                        quotes=row.quotes,
                        views=row.views,
                        extra=row.extra or {},
                    ),
                )
                for row in conn.execute(query)
            ]


def load_posts(conn: Connection, post_ids: Sequence[int]) -> list[tuple[int, Post]]:
    """Stored posts by database id, in id order, each with its media and the latest text read
    in each of its images (``tidewatch media``): the post as the detector takes it."""
    media: dict[int, list[Row[Any]]] = {}
    for row in conn.execute(
        select(t.media).where(_in(conn, t.media.c.post_id, post_ids)).order_by(t.media.c.id)
    ):
        media.setdefault(row.post_id, []).append(row)
    read: dict[int, str] = {}
    for signal in conn.execute(
        select(t.media_signals.c.media_id, t.media_signals.c.ocr_text)
        .where(
            _in(conn, t.media_signals.c.post_id, post_ids), t.media_signals.c.ocr_text.is_not(None)
        )
        .order_by(t.media_signals.c.id)
    ):
        read[signal.media_id] = signal.ocr_text
    return [
        (row.id, _post(row, media.get(row.id, ()), read))
        for row in conn.execute(
            select(t.posts).where(_in(conn, t.posts.c.id, post_ids)).order_by(t.posts.c.id)
        )
    ]


def _post(row: Row[Any], media_rows: Sequence[Row[Any]], read: dict[int, str]) -> Post:
    return Post(
        platform=Platform(row.platform),
        native_id=row.native_id,
        kind=PostKind(row.kind),
        account_id=row.account_native_id,
        text=row.text,
        title=row.title,
        lang=row.lang,
        created_at=_stamp(row, "created_at"),
        url=row.url,
        links=tuple(row.links or ()),
        hashtags=tuple(row.hashtags or ()),
        mentions=tuple(row.mentions or ()),
        parent_id=row.parent_native_id,
        quoted_id=row.quoted_native_id,
        forwarded_from=row.forwarded_from,
        conversation_id=row.conversation_id,
        media=tuple(
            Media(
                kind=m.kind,
                native_id=m.native_id,
                url=m.url,
                preview_url=m.preview_url,
                duration_ms=m.duration_ms,
                width=m.width,
                height=m.height,
                local_path=m.local_path,
                alt_text=m.alt_text,
                transcript=m.transcript,
                image_text=read.get(m.id, ""),
            )
            for m in media_rows
        ),
    )


class AccountRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(t.accounts)).scalar_one()

    def get(self, platform: str, native_id: str) -> Account | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.accounts).where(
                    t.accounts.c.platform == platform, t.accounts.c.native_id == native_id
                )
            ).first()
        if row is None:
            return None
        return Account(
            platform=Platform(row.platform),
            native_id=row.native_id,
            handle=row.handle,
            display_name=row.display_name,
            bio=row.bio,
            url=row.url,
            links=tuple(row.links or ()),
            created_at=_stamp(row, "created_at"),
            verified=row.verified,
            location=row.location,
        )

    def observations(self, platform: str, native_id: str) -> list[AccountObservation]:
        query = (
            select(t.account_observations, t.source_records.c.sha256)
            .join(t.accounts, t.accounts.c.id == t.account_observations.c.account_id)
            .join(t.source_records, t.source_records.c.id == t.account_observations.c.source_id)
            .where(t.accounts.c.platform == platform, t.accounts.c.native_id == native_id)
            .order_by(t.account_observations.c.observed_at, t.account_observations.c.id)
        )
        with self.engine.connect() as conn:
            return [
                AccountObservation(
                    account_key=(platform, native_id),
                    observed_at=row.observed_at,
                    source_sha256=row.sha256,
                    handle=row.handle,
                    display_name=row.display_name,
                    bio=row.bio,
                    availability=Availability(row.availability),
                    metrics=Metrics(
                        followers=row.followers,
                        following=row.following,
                        posts=row.posts,
                        extra=row.extra or {},
                    ),
                )
                for row in conn.execute(query)
            ]


class SourceRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def raw(self, sha256: str) -> bytes | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(t.source_records.c.raw).where(t.source_records.c.sha256 == sha256)
            ).scalar_one_or_none()
