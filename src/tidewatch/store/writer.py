"""Write reader bundles to the database: idempotent, batched, one transaction per batch.

Per batch, in one transaction:

1. source records new to the database are inserted; bundles whose raw bytes are already
   stored are skipped whole (they were written, completely, by an earlier committed batch);
2. accounts and posts are inserted if new, keyed by (platform, native_id);
3. a post whose text differs from every stored version gains a PostVersion (edits);
4. every post and account seen gets one observation per source record (dated, never
   overwritten), and media rows are added once per (post, media key).

A process killed mid-file therefore loses at most the uncommitted batch, and running the same
command again skips what was committed and writes the rest: the end state equals an
uninterrupted run. Work is done per batch with set-based queries, not per post.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Connection,
    Table,
    and_,
    any_,
    bindparam,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from tidewatch.model import Account, Bundle, Media, Post, text_sha256
from tidewatch.store import tables as t

_CHUNK = 900  # keys per IN (...) query: well under SQLite's and PostgreSQL's parameter limits


@dataclass
class BatchCounts:
    records: int = 0
    records_skipped: int = 0
    posts_new: int = 0
    posts_updated: int = 0
    posts_edited: int = 0
    accounts_new: int = 0
    accounts_updated: int = 0

    def add(self, other: BatchCounts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class _Seen:
    """One sighting of an entity in one source record of the batch."""

    source_id: int
    observed_at: datetime


@dataclass
class _PostGroup:
    sightings: list[tuple[Post, _Seen]] = field(default_factory=list)


def write_batch(
    conn: Connection, bundles: Sequence[Bundle], *, run_id: int | None = None
) -> BatchCounts:
    """Write ``bundles`` using ``conn`` (the caller owns the transaction)."""
    counts = BatchCounts(records=len(bundles))
    now = datetime.now(UTC)
    fresh = _insert_sources(conn, bundles, now, run_id)
    counts.records_skipped = len(bundles) - len(fresh)
    if not fresh:
        return counts

    account_sightings: dict[tuple[str, str], list[tuple[Account, _Seen]]] = {}
    post_groups: dict[tuple[str, str], _PostGroup] = {}
    for bundle, seen in fresh:
        for account in bundle.accounts:
            account_sightings.setdefault((account.platform.value, account.native_id), []).append(
                (account, seen)
            )
        for post in bundle.posts:
            post_groups.setdefault(post.key, _PostGroup()).sightings.append((post, seen))

    _write_accounts(conn, account_sightings, counts)
    _write_posts(conn, post_groups, counts)
    return counts


def _insert_sources(
    conn: Connection, bundles: Sequence[Bundle], now: datetime, run_id: int | None
) -> list[tuple[Bundle, _Seen]]:
    by_sha: dict[str, Bundle] = {}
    for bundle in bundles:
        by_sha.setdefault(bundle.source.sha256, bundle)
    stored = _existing(conn, t.source_records.c.sha256, list(by_sha), t.source_records.c.sha256)
    new = [(sha, b) for sha, b in by_sha.items() if sha not in stored]
    if not new:
        return []
    rows = []
    for sha, bundle in new:
        source = bundle.source
        rows.append(
            {
                "sha256": sha,
                "format": source.format,
                "collector": source.collector,
                "origin": source.origin,
                "retrieved_at": source.retrieved_at.utc if source.retrieved_at else None,
                "retrieved_at_raw": source.retrieved_at.raw if source.retrieved_at else None,
                "ingested_at": now,
                "raw": source.raw,
                "ingest_run_id": run_id,
            }
        )
    ids = _insert_returning_ids(conn, t.source_records, rows, ("sha256",))
    error_rows: list[dict[str, Any]] = []
    result = []
    for (_sha, bundle), source_id in zip(new, ids, strict=True):
        source = bundle.source
        seen = _Seen(source_id, source.retrieved_at.utc if source.retrieved_at else now)
        result.append((bundle, seen))
        error_rows.extend(
            {
                "source_id": source_id,
                "kind": e.kind.value,
                "resource_type": e.resource_type,
                "resource_id": e.resource_id,
                "title": e.title,
                "detail": e.detail,
            }
            for e in source.errors
        )
    if error_rows:
        _bulk_insert(conn, t.api_errors, error_rows)
    return result


def _write_accounts(
    conn: Connection,
    sightings: dict[tuple[str, str], list[tuple[Account, _Seen]]],
    counts: BatchCounts,
) -> None:
    if not sightings:
        return
    existing = _existing_by_key(
        conn,
        t.accounts,
        list(sightings),
        (t.accounts.c.profile_at, t.accounts.c.handle, t.accounts.c.display_name, t.accounts.c.bio),
    )
    new_rows = []
    new_keys = []
    renamed = []
    for key, seen_list in sightings.items():
        latest, latest_seen = max(seen_list, key=lambda pair: pair[1].observed_at)
        if key not in existing:
            first_seen = min(s.observed_at for _, s in seen_list)
            new_keys.append(key)
            new_rows.append(
                _account_row(latest, first_seen, latest_seen.observed_at, seen_list[0][1].source_id)
            )
            continue
        row_id, profile_at, *profile = existing[key]
        counts.accounts_updated += 1
        # The profile columns hold the latest sighting; older sightings only add observations.
        if latest_seen.observed_at >= profile_at and profile != [
            latest.handle,
            latest.display_name,
            latest.bio,
        ]:
            renamed.append(
                {
                    "b_id": row_id,
                    "handle": latest.handle,
                    "display_name": latest.display_name,
                    "bio": latest.bio,
                    "profile_at": latest_seen.observed_at,
                }
            )
    ids = dict(
        zip(
            new_keys,
            _insert_returning_ids(conn, t.accounts, new_rows, ("platform", "native_id")),
            strict=True,
        )
    )
    counts.accounts_new += len(ids)
    if renamed:
        conn.execute(
            update(t.accounts)
            .where(t.accounts.c.id == bindparam("b_id"))
            .values(
                handle=bindparam("handle"),
                display_name=bindparam("display_name"),
                bio=bindparam("bio"),
                profile_at=bindparam("profile_at"),
            ),
            renamed,
        )
    for key, (row_id, *_rest) in existing.items():
        ids[key] = row_id
    observation_rows = []
    for key, seen_list in sightings.items():
        done: set[int] = set()
        for account, seen in seen_list:
            if seen.source_id in done:
                continue
            done.add(seen.source_id)
            m = account.metrics
            observation_rows.append(
                {
                    "account_id": ids[key],
                    "source_id": seen.source_id,
                    "observed_at": seen.observed_at,
                    "handle": account.handle,
                    "display_name": account.display_name,
                    "bio": account.bio,
                    "availability": account.availability.value,
                    "followers": m.followers,
                    "following": m.following,
                    "posts": m.posts,
                    "extra": m.extra,
                }
            )
    _bulk_insert(conn, t.account_observations, observation_rows)


def _account_row(
    account: Account, first_seen: datetime, profile_at: datetime, source_id: int
) -> dict[str, Any]:
    return {
        "platform": account.platform.value,
        "native_id": account.native_id,
        "handle": account.handle,
        "display_name": account.display_name,
        "bio": account.bio,
        "url": account.url,
        "links": list(account.links),
        "created_at": account.created_at.utc if account.created_at else None,
        "created_at_raw": account.created_at.raw if account.created_at else None,
        "verified": account.verified,
        "location": account.location,
        "first_seen_at": first_seen,
        "profile_at": profile_at,
        "first_source_id": source_id,
    }


def _earliest(sightings: list[tuple[Any, _Seen]]) -> datetime:
    if len(sightings) == 1:  # nearly always: a post seen once in a batch
        return sightings[0][1].observed_at
    return min(seen.observed_at for _, seen in sightings)


def _version_time(post: Post, seen: _Seen) -> datetime:
    """When this text was current: the edit time if given, else when the post was made."""
    if post.edited_at:
        return post.edited_at.utc
    if post.created_at:
        return post.created_at.utc
    return seen.observed_at


def _write_posts(
    conn: Connection, groups: dict[tuple[str, str], _PostGroup], counts: BatchCounts
) -> None:
    if not groups:
        return
    existing = _existing_by_key(
        conn, t.posts, list(groups), (t.posts.c.version_count, t.posts.c.current_version_at)
    )
    # Every distinct text of every post in the batch, oldest first.
    texts: dict[tuple[str, str], list[tuple[str, Post, _Seen]]] = {}
    for key, group in groups.items():
        distinct: dict[str, tuple[str, Post, _Seen]] = {}
        for post, seen in group.sightings:
            sha = text_sha256(post.text)
            if sha not in distinct:
                distinct[sha] = (sha, post, seen)
        texts[key] = sorted(distinct.values(), key=lambda item: _version_time(item[1], item[2]))

    new_keys = [key for key in groups if key not in existing]
    new_rows = []
    for key in new_keys:
        sightings = groups[key].sightings
        _sha, current, current_seen = texts[key][-1]
        first = _earliest(sightings)
        new_rows.append(
            _post_row(current, current_seen, first, len(texts[key]), sightings[0][1].source_id)
        )
    ids = dict(
        zip(
            new_keys,
            _insert_returning_ids(conn, t.posts, new_rows, ("platform", "native_id")),
            strict=True,
        )
    )
    counts.posts_new += len(ids)

    version_rows: list[dict[str, Any]] = []
    for key in new_keys:
        for number, (sha, post, seen) in enumerate(texts[key], start=1):
            version_rows.append(_version_row(ids[key], number, sha, post, seen))

    old_keys = [key for key in groups if key in existing]
    counts.posts_updated += len(old_keys)
    if old_keys:
        _add_versions_to_existing(conn, old_keys, existing, texts, version_rows, counts)
        for key in old_keys:
            ids[key] = existing[key][0]
    if version_rows:
        _bulk_insert(conn, t.post_versions, version_rows)
    _write_observations_and_media(
        conn, groups, ids, existing_ids={existing[k][0] for k in old_keys}
    )


def _add_versions_to_existing(
    conn: Connection,
    keys: list[tuple[str, str]],
    existing: dict[tuple[str, str], tuple[Any, ...]],
    texts: dict[tuple[str, str], list[tuple[str, Post, _Seen]]],
    version_rows: list[dict[str, Any]],
    counts: BatchCounts,
) -> None:
    post_ids = [existing[key][0] for key in keys]
    stored: set[tuple[int, str]] = set()
    for chunk in _chunks(post_ids):
        stored.update(
            (row.post_id, row.text_sha256)
            for row in conn.execute(
                select(t.post_versions.c.post_id, t.post_versions.c.text_sha256).where(
                    _in(conn, t.post_versions.c.post_id, chunk)
                )
            )
        )
    with_text: list[dict[str, Any]] = []
    count_only: list[dict[str, Any]] = []
    for key in keys:
        post_id, version_count, current_at = existing[key]
        added = [
            (sha, post, seen) for sha, post, seen in texts[key] if (post_id, sha) not in stored
        ]
        if not added:
            continue
        counts.posts_edited += 1
        for offset, (sha, post, seen) in enumerate(added, start=1):
            version_rows.append(_version_row(post_id, version_count + offset, sha, post, seen))
        _sha, newest, newest_seen = added[-1]
        newest_at = _version_time(newest, newest_seen)
        row: dict[str, Any] = {"b_id": post_id, "version_count": version_count + len(added)}
        # Seeing an older version late must not replace the current text.
        if current_at is None or newest_at >= current_at:
            with_text.append(row | {"text": newest.text, "current_version_at": newest_at})
        else:
            count_only.append(row)
    posts_by_id = update(t.posts).where(t.posts.c.id == bindparam("b_id"))
    if with_text:
        conn.execute(
            posts_by_id.values(
                version_count=bindparam("version_count"),
                text=bindparam("text"),
                current_version_at=bindparam("current_version_at"),
            ),
            with_text,
        )
    if count_only:
        conn.execute(posts_by_id.values(version_count=bindparam("version_count")), count_only)


def _write_observations_and_media(
    conn: Connection,
    groups: dict[tuple[str, str], _PostGroup],
    ids: dict[tuple[str, str], int],
    existing_ids: set[int],
) -> None:
    observation_rows = []
    media_candidates: dict[tuple[int, str], tuple[Media, int]] = {}
    for key, group in groups.items():
        post_id = ids[key]
        done: set[int] = set()
        for post, seen in group.sightings:
            for item in post.media:
                media_candidates.setdefault((post_id, item.key), (item, seen.source_id))
            if seen.source_id in done:
                continue
            done.add(seen.source_id)
            m = post.metrics
            observation_rows.append(
                {
                    "post_id": post_id,
                    "source_id": seen.source_id,
                    "observed_at": seen.observed_at,
                    "availability": post.availability.value,
                    "likes": m.likes,
                    "shares": m.shares,
                    "comments": m.comments,
                    "quotes": m.quotes,
                    "views": m.views,
                    "extra": m.extra,
                }
            )
    _bulk_insert(conn, t.post_observations, observation_rows)
    if not media_candidates:
        return
    stored: set[tuple[int, str]] = set()
    recheck = sorted({post_id for post_id, _ in media_candidates if post_id in existing_ids})
    for chunk in _chunks(recheck):
        stored.update(
            (row.post_id, row.media_key)
            for row in conn.execute(
                select(t.media.c.post_id, t.media.c.media_key).where(
                    _in(conn, t.media.c.post_id, chunk)
                )
            )
        )
    rows = [
        {
            "post_id": post_id,
            "media_key": media_key,
            "kind": item.kind,
            "native_id": item.native_id,
            "url": item.url,
            "preview_url": item.preview_url,
            "duration_ms": item.duration_ms,
            "width": item.width,
            "height": item.height,
            "local_path": item.local_path,
            "alt_text": item.alt_text,
            "transcript": item.transcript,
            "first_source_id": source_id,
        }
        for (post_id, media_key), (item, source_id) in media_candidates.items()
        if (post_id, media_key) not in stored and media_key
    ]
    if rows:
        _bulk_insert(conn, t.media, rows)


def _post_row(
    post: Post, seen: _Seen, first: datetime, versions: int, source_id: int
) -> dict[str, Any]:
    return {
        "platform": post.platform.value,
        "native_id": post.native_id,
        "kind": post.kind.value,
        "account_native_id": post.account_id,
        "text": post.text,
        "title": post.title,
        "lang": post.lang,
        "created_at": post.created_at.utc if post.created_at else None,
        "created_at_raw": post.created_at.raw if post.created_at else None,
        "url": post.url,
        "links": list(post.links),
        "hashtags": list(post.hashtags),
        "mentions": list(post.mentions),
        "parent_native_id": post.parent_id,
        "quoted_native_id": post.quoted_id,
        "forwarded_from": post.forwarded_from,
        "conversation_id": post.conversation_id,
        "version_count": versions,
        "current_version_at": _version_time(post, seen),
        "first_seen_at": first,
        "first_source_id": source_id,
    }


def _version_row(post_id: int, number: int, sha: str, post: Post, seen: _Seen) -> dict[str, Any]:
    return {
        "post_id": post_id,
        "version_no": number,
        "version_native_id": post.version_id,
        "text": post.text,
        "text_sha256": sha,
        "edited_at": post.edited_at.utc if post.edited_at else None,
        "edited_at_raw": post.edited_at.raw if post.edited_at else None,
        "first_seen_at": seen.observed_at,
        "source_id": seen.source_id,
    }


def _bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows with the driver's fastest path: COPY on PostgreSQL, a plain
    executemany of tuples on SQLite. Values are converted as each column's type would
    convert them, without SQLAlchemy's per-row dictionaries."""
    if not rows:
        return
    columns = [table.c[name] for name in rows[0]]
    keys = [column.name for column in columns]
    preparer = conn.dialect.identifier_preparer
    names = ", ".join(preparer.quote(column.name) for column in columns)
    target = preparer.format_table(table)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    converters = [
        (i, _converter(column, conn.dialect))
        for i, column in enumerate(columns)
        if isinstance(column.type, JSON | t.UTCDateTime)
    ]
    values = []
    for row in rows:
        line = [row[k] for k in keys]
        for i, convert in converters:
            if line[i] is not None:
                line[i] = convert(line[i])
        values.append(line)
    if conn.dialect.name == "postgresql":
        with cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
            for line in values:
                copy.write_row(line)
        return
    placeholders = ", ".join("?" for _ in columns)
    cursor.executemany(f"INSERT INTO {target} ({names}) VALUES ({placeholders})", values)


def _converter(column: Any, dialect: Any) -> Callable[[Any], Any]:
    if isinstance(column.type, JSON):
        return _json_text
    if dialect.name == "postgresql":
        return lambda value: value  # psycopg sends aware datetimes as timestamptz itself
    return _sqlite_utc_text


def _sqlite_utc_text(value: datetime) -> str:
    """The text SQLAlchemy's SQLite DATETIME stores ("2024-01-01 10:00:00.000000"), for an
    aware time converted to UTC, as UTCDateTime would bind it; isoformat is done in C."""
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _json_text(value: Any) -> str:
    if not value:
        return "[]" if isinstance(value, list | tuple) else "{}"
    return orjson.dumps(value).decode()


def _insert_returning_ids(
    conn: Connection, table: Table, rows: list[dict[str, Any]], key_columns: tuple[str, ...]
) -> list[int]:
    """Insert ``rows`` and return their new ids in the same order.

    A plain executemany and one keyed SELECT per chunk, not INSERT ... RETURNING: with
    RETURNING, SQLAlchemy sends one giant statement per 1,000 rows that psycopg must parse
    in Python, which made PostgreSQL ingest ten times slower.
    """
    if not rows:
        return []
    _bulk_insert(conn, table, rows)
    columns = [table.c[name] for name in key_columns]
    keys = [tuple(row[name] for name in key_columns) for row in rows]
    found: dict[tuple[Any, ...], int] = {}
    if len(columns) == 1:
        for chunk in _chunks([k[0] for k in keys]):
            found.update(
                ((value,), row_id)
                for value, row_id in conn.execute(
                    select(columns[0], table.c.id).where(_in(conn, columns[0], chunk))
                )
            )
    else:
        platform, native_id = columns
        by_platform: dict[Any, list[Any]] = {}
        for first, second in keys:
            by_platform.setdefault(first, []).append(second)
        for first, values in by_platform.items():
            for chunk in _chunks(values):
                query = select(native_id, table.c.id).where(
                    platform == first, _in(conn, native_id, chunk)
                )
                found.update(((first, value), row_id) for value, row_id in conn.execute(query))
    return [found[key] for key in keys]


def _in(conn: Connection, column: Any, values: Sequence[Any]) -> Any:
    """``column IN values``; on PostgreSQL as ``= ANY(array)``, one parameter instead of
    hundreds, which psycopg would otherwise parse into the statement text each time."""
    if conn.dialect.name == "postgresql":
        return column == any_(literal(list(values), ARRAY(column.type)))
    return column.in_(values)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _existing(conn: Connection, column: Any, values: list[str], key_column: Any) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(values):
        found.update(
            row[0] for row in conn.execute(select(key_column).where(_in(conn, column, chunk)))
        )
    return found


def _existing_by_key(
    conn: Connection, table: Table, keys: list[tuple[str, str]], extra: tuple[Any, ...]
) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Rows already stored for (platform, native_id) keys: key -> (id, *extra)."""
    by_platform: dict[str, list[str]] = {}
    for platform, native_id in keys:
        by_platform.setdefault(platform, []).append(native_id)
    found: dict[tuple[str, str], tuple[Any, ...]] = {}
    for platform, native_ids in by_platform.items():
        for chunk in _chunks(native_ids):
            query = select(table.c.native_id, table.c.id, *extra).where(
                and_(table.c.platform == platform, _in(conn, table.c.native_id, chunk))
            )
            for row in conn.execute(query):
                found[(platform, row[0])] = tuple(row[1:])
    return found
