"""Write reader bundles to the database: idempotent, batched, one transaction per batch.

Writing is split in two, so that the half that needs no database can run in another process
(:mod:`tidewatch.store.loader` does that for large files):

* :func:`prepare_batch` turns bundles into plain row tuples, with times already in the form
  the database driver takes and JSON columns already serialised. It is pure: no database.
* :func:`apply_batch` writes a prepared batch through ``conn`` (the caller owns the
  transaction). Per batch, in that one transaction:

  1. source records new to the database are inserted; records whose raw bytes are already
     stored are skipped whole (they were written, completely, by an earlier committed batch);
  2. accounts and posts are inserted if new, keyed by (platform, native_id);
  3. a post whose text differs from every stored version gains a PostVersion (edits);
  4. every post and account seen gets one observation per source record (dated, never
     overwritten), and media rows are added once per (post, media key).

A process killed mid-file therefore loses at most the uncommitted batch, and running the same
command again skips what was committed and writes the rest: the end state equals an
uninterrupted run. Work is done per batch with set-based queries, not per post, on the
driver's own cursor: COPY on PostgreSQL, executemany on SQLite.

New rows get their ids before they are inserted, so nothing is read back: on PostgreSQL from
the table's sequence, on SQLite as ``max(id) + 1 ...``, which is safe because each batch
first takes the write lock (:meth:`_Driver.take_write_lock`), and no other connection can add
rows until the batch commits. The lock also makes what a batch finds stored stay true until
it commits, so concurrent ingests of overlapping files both succeed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, Table, and_, any_, literal, select
from sqlalchemy.dialects.postgresql import ARRAY

from tidewatch.model import Account, Bundle, Post, text_sha256
from tidewatch.store import tables as t
from tidewatch.store.payloads import pack

_CHUNK = 900  # keys per IN (...) query: well under SQLite's and PostgreSQL's parameter limits
#: The PostgreSQL advisory lock that lets one batch be written at a time (a constant of
#: Tidewatch's: "TWBATCH" as a number).
_WRITE_LOCK = 0x5457_4241_5443_48

#: Values as the driver takes them: a row of one table, in the column order of its INSERT.
Row = tuple[Any, ...]


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


# --- Prepared rows ----------------------------------------------------------------------------
#
# Plain tuples of str, int, bytes and None (datetimes on PostgreSQL), because they cross a
# process boundary by pickling, where model objects cost ten times more. Column orders:

_SOURCE_COLUMNS = (
    "id",
    "sha256",
    "format",
    "collector",
    "origin",
    "retrieved_at",
    "retrieved_at_raw",
    "raw",
    "ingested_at",
    "ingest_run_id",
)
_ERROR_COLUMNS = ("source_id", "kind", "resource_type", "resource_id", "title", "detail")
_ACCOUNT_COLUMNS = (
    "id",
    "platform",
    "native_id",
    "handle",
    "display_name",
    "bio",
    "url",
    "links",
    "created_at",
    "created_at_raw",
    "verified",
    "location",
    "first_seen_at",
    "profile_at",
    "first_source_id",
)
_ACCOUNT_OBSERVATION_COLUMNS = (
    "account_id",
    "source_id",
    "observed_at",
    "handle",
    "display_name",
    "bio",
    "availability",
    "followers",
    "following",
    "posts",
    "extra",
)
_POST_COLUMNS = (
    "id",
    "platform",
    "native_id",
    "kind",
    "account_native_id",
    "text",
    "title",
    "lang",
    "created_at",
    "created_at_raw",
    "url",
    "links",
    "hashtags",
    "mentions",
    "parent_native_id",
    "quoted_native_id",
    "forwarded_from",
    "conversation_id",
    "version_count",
    "current_version_at",
    "first_seen_at",
    "first_source_id",
)
_VERSION_COLUMNS = (
    "post_id",
    "version_no",
    "version_native_id",
    "text",
    "text_sha256",
    "edited_at",
    "edited_at_raw",
    "first_seen_at",
    "source_id",
)
_POST_OBSERVATION_COLUMNS = (
    "post_id",
    "source_id",
    "observed_at",
    "availability",
    "likes",
    "shares",
    "comments",
    "quotes",
    "views",
    "extra",
)
_MEDIA_COLUMNS = (
    "post_id",
    "media_key",
    "kind",
    "native_id",
    "url",
    "preview_url",
    "duration_ms",
    "width",
    "height",
    "local_path",
    "alt_text",
    "transcript",
    "first_source_id",
)

# Enum members are given as their ``_value_`` (a plain str): ``.value`` is a Python-level
# property, and a post has four of them.
#
# A prepared account: (fields, observation), where fields are _ACCOUNT_COLUMNS[1:12]
# (platform .. location; fields[0:2] is the key and fields[2:5] the profile) and observation
# is _ACCOUNT_OBSERVATION_COLUMNS[3:].
PreparedAccount = tuple[Row, Row]
# A prepared post: (fields, text_sha256, version_time, version, observation, media), where
# fields are _POST_COLUMNS[1:18] (platform .. conversation_id; fields[0:2] is the key),
# version_time is when this text was current (the edit time, else the creation time, else
# None: the sighting's time), version is _VERSION_COLUMNS[2:7], observation is
# _POST_OBSERVATION_COLUMNS[3:] and media holds _MEDIA_COLUMNS[1:12] per item.
PreparedPost = tuple[Row, str, Any, Row, Row, tuple[Row, ...]]


@dataclass(slots=True)
class PreparedRecord:
    """One source record and what its bundle says, as rows without database ids."""

    sha256: str
    source: Row  # _SOURCE_COLUMNS[1:8], the raw payload packed (store.payloads)
    observed_at: Any  # retrieved_at in database form; None: the time of writing
    errors: list[Row]  # _ERROR_COLUMNS[1:]
    accounts: list[PreparedAccount]
    posts: list[PreparedPost]


@dataclass(slots=True)
class PreparedBatch:
    """What :func:`apply_batch` writes in one transaction, for one kind of database."""

    dialect: str
    records: list[PreparedRecord] = field(default_factory=list)


def prepare_batch(bundles: Iterable[Bundle], dialect: str) -> PreparedBatch:
    """Rows for ``bundles`` in the value forms of ``dialect`` ("sqlite" or "postgresql")."""
    to_db = db_time(dialect)
    return PreparedBatch(dialect, [prepare_record(bundle, to_db) for bundle in bundles])


def prepare_record(bundle: Bundle, to_db: Callable[[datetime], Any]) -> PreparedRecord:
    source = bundle.source
    sha = source.sha256
    retrieved = source.retrieved_at
    observed = to_db(retrieved.utc) if retrieved else None
    return PreparedRecord(
        sha,
        (
            sha,
            source.format,
            source.collector,
            source.origin,
            observed,
            retrieved.raw if retrieved else None,
            pack(source.raw),
        ),
        observed,
        [(e.kind.value, e.resource_type, e.resource_id, e.title, e.detail) for e in source.errors],
        [_prepare_account(account, to_db) for account in bundle.accounts],
        [_prepare_post(post, to_db) for post in bundle.posts],
    )


def prepare_record_fields(bundle: Bundle, to_db: Callable[[datetime], Any]) -> tuple[Any, ...]:
    """:func:`prepare_record`'s fields as a plain tuple, which ``PreparedRecord(*fields)``
    makes whole again: what the parsing workers send, since plain data crosses between
    processes fastest (:mod:`tidewatch.ingest.parallel`)."""
    r = prepare_record(bundle, to_db)
    return (r.sha256, r.source, r.observed_at, r.errors, r.accounts, r.posts)


def _prepare_account(account: Account, to_db: Callable[[datetime], Any]) -> PreparedAccount:
    a = account.__dict__  # see _prepare_post
    created = a["created_at"]
    m = a["metrics"].__dict__
    return (
        (
            a["platform"]._value_,
            a["native_id"],
            a["handle"],
            a["display_name"],
            a["bio"],
            a["url"],
            _json_list(a["links"]),
            to_db(created.utc) if created else None,
            created.raw if created else None,
            a["verified"],
            a["location"],
        ),
        (
            a["handle"],
            a["display_name"],
            a["bio"],
            a["availability"]._value_,
            m["followers"],
            m["following"],
            m["posts"],
            _json_dict(m["extra"]),
        ),
    )


def _prepare_post(post: Post, to_db: Callable[[datetime], Any]) -> PreparedPost:
    # Fields are read from the model's __dict__, where pydantic keeps them: half the cost of
    # attribute access (0.56 against 1.32 us for a post's twenty fields), which runs for
    # every post and account an ingest reads.
    p = post.__dict__
    created = p["created_at"]
    edited = p["edited_at"]
    created_db = to_db(created.utc) if created else None
    edited_db = to_db(edited.utc) if edited else None
    text = p["text"]
    sha = text_sha256(text)
    m = p["metrics"].__dict__
    return (
        (
            p["platform"]._value_,
            p["native_id"],
            p["kind"]._value_,
            p["account_id"],
            text,
            p["title"],
            p["lang"],
            created_db,
            created.raw if created else None,
            p["url"],
            _json_list(p["links"]),
            _json_list(p["hashtags"]),
            _json_list(p["mentions"]),
            p["parent_id"],
            p["quoted_id"],
            p["forwarded_from"],
            p["conversation_id"],
        ),
        sha,
        edited_db if edited else created_db,
        (p["version_id"], text, sha, edited_db, edited.raw if edited else None),
        (
            p["availability"]._value_,
            m["likes"],
            m["shares"],
            m["comments"],
            m["quotes"],
            m["views"],
            _json_dict(m["extra"]),
        ),
        tuple(
            (
                item.key,
                item.kind,
                item.native_id,
                item.url,
                item.preview_url,
                item.duration_ms,
                item.width,
                item.height,
                item.local_path,
                item.alt_text,
                item.transcript,
            )
            for item in p["media"]
            if item.key
        ),
    )


def db_time(dialect: str) -> Callable[[datetime], Any]:
    """How an aware datetime is handed to the driver: psycopg takes it as it is; SQLite
    stores the text SQLAlchemy's DATETIME would store. In one dialect the forms order like
    the times they stand for (the SQLite text is UTC with fixed widths), which lets the
    writer compare them with what it reads back without converting."""
    if dialect == "postgresql":
        return _same
    if dialect == "sqlite":
        return _sqlite_utc_text
    raise ValueError(f"database {dialect!r} is not supported")


def _same(value: datetime) -> datetime:
    return value


#: Texts of recent times (see :func:`_sqlite_utc_text`), emptied when full.
_SQLITE_TEXTS: dict[datetime, str] = {}
_SQLITE_TEXTS_LIMIT = 8192


def _sqlite_utc_text(value: datetime) -> str:
    """The text SQLAlchemy's SQLite DATETIME stores ("2024-01-01 10:00:00.000000"), for an
    aware time converted to UTC, as UTCDateTime would bind it.

    Formatting costs 1.5 us, and archives repeat times (an author's creation time on every
    page that carries the author), so recent texts are kept."""
    text = _SQLITE_TEXTS.get(value)
    if text is None:
        if len(_SQLITE_TEXTS) >= _SQLITE_TEXTS_LIMIT:
            _SQLITE_TEXTS.clear()
        utc = value.astimezone(UTC) if value.utcoffset() else value
        # isoformat's own choice of precision, its "+00:00" cut off: a third of the cost of
        # replace(tzinfo=None) and a named precision (0.8 against 2.6 us), which every post
        # paid once its times stopped repeating.
        text = utc.isoformat(" ")
        if utc.tzinfo is not None:
            text = text[:-6]
        if len(text) == 19:  # whole seconds: isoformat leaves out the fraction
            text += ".000000"
        _SQLITE_TEXTS[value] = text
    return text


def _json_list(value: Sequence[Any]) -> str:
    return orjson.dumps(value).decode() if value else "[]"


def _json_dict(value: dict[str, Any]) -> str:
    return orjson.dumps(value).decode() if value else "{}"


# --- Applying a prepared batch ----------------------------------------------------------------


def write_batch(
    conn: Connection, bundles: Sequence[Bundle], *, run_id: int | None = None
) -> BatchCounts:
    """Write ``bundles`` using ``conn`` (the caller owns the transaction)."""
    return apply_batch(conn, prepare_batch(bundles, conn.dialect.name), run_id=run_id)


#: One sighting of an account or post in one fresh source record of the batch:
#: (PreparedAccount | PreparedPost, source_id, observed_at). A plain tuple: one is made per
#: post and per account, and unpacking it is the cheapest way to read it.
_Sighting = tuple[Any, int, Any]


class KnownAccounts:
    """The stored state of accounts one ingest has already read or written, so that later
    batches need not select them again: (platform, native_id) -> (id, profile_at, handle,
    display_name, bio), times in database form.

    An archive repeats its accounts on page after page (twarc2 puts every author of a page in
    its ``includes``), and once the database outgrows the page cache, selecting them was the
    writer's dearest statement (measured: 7.2 s of 60 s at 1,000,000 X posts into SQLite;
    on PostgreSQL 18% of the writing process's time).

    The cache is only trusted while nobody else writes. Each batch shows a stamp
    (:meth:`_Driver.quiet_stamps`) and says which stamp the next batch must show if no other
    connection writes meanwhile; when the next batch shows another, or none, the cache is
    emptied (:meth:`check`). What a batch learns is staged and kept only once its
    transaction has committed (:meth:`committed`); after a rolled-back batch, nothing staged
    is kept and the next batch starts afresh (:meth:`rolled_back`). The cache is emptied
    when it holds ``limit`` accounts, so memory stays bounded.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._stored: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._staged: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._expected: object | None = None  # the stamp that proves nobody else wrote
        self._next: object | None = None  # what _expected becomes if this batch commits

    def __len__(self) -> int:
        return len(self._stored)

    def get(self, key: tuple[str, str]) -> tuple[Any, ...] | None:
        return self._staged.get(key) or self._stored.get(key)

    def stage(self, key: tuple[str, str], state: tuple[Any, ...]) -> None:
        self._staged[key] = state

    def check(self, stamp: object | None, next_stamp: object | None) -> None:
        """Empty the cache unless ``stamp`` is the one the last committed batch expected
        (None: the database cannot tell); once this batch commits, expect ``next_stamp``."""
        if stamp is None or stamp != self._expected:
            self._stored.clear()
        self._next = next_stamp

    def committed(self) -> None:
        if len(self._stored) + len(self._staged) > self.limit:
            self._stored.clear()
        self._stored.update(self._staged)
        self._staged.clear()
        self._expected = self._next

    def rolled_back(self) -> None:
        self._staged.clear()
        self._expected = self._next = None


def apply_batch(
    conn: Connection,
    batch: PreparedBatch,
    *,
    run_id: int | None = None,
    known_accounts: KnownAccounts | None = None,
) -> BatchCounts:
    """Write a prepared batch using ``conn`` (the caller owns the transaction; on PostgreSQL,
    with ``known_accounts``, the batch must be the transaction's first write).
    ``known_accounts`` saves selecting accounts an earlier batch of the same connection read
    or wrote; the caller reports the transaction's end to it."""
    db = _Driver(conn)
    if batch.dialect != db.dialect:
        raise ValueError(f"a batch prepared for {batch.dialect} cannot be written to {db.dialect}")
    db.take_write_lock()
    if known_accounts is not None:
        known_accounts.check(*db.quiet_stamps())
    counts = BatchCounts(records=len(batch.records))
    now = db.to_db(datetime.now(UTC))
    fresh = _insert_sources(db, batch.records, now, run_id)
    counts.records_skipped = len(batch.records) - len(fresh)
    if not fresh:
        return counts

    accounts: dict[tuple[str, str], list[_Sighting]] = {}
    posts: dict[tuple[str, str], list[_Sighting]] = {}
    for record, source_id in fresh:
        observed = record.observed_at or now
        for account in record.accounts:
            fields = account[0]
            key = (fields[0], fields[1])
            if key in accounts:
                accounts[key].append((account, source_id, observed))
            else:
                accounts[key] = [(account, source_id, observed)]
        for post in record.posts:
            fields = post[0]
            key = (fields[0], fields[1])
            if key in posts:
                posts[key].append((post, source_id, observed))
            else:
                posts[key] = [(post, source_id, observed)]
    _write_accounts(db, accounts, counts, known_accounts)
    _write_posts(db, posts, counts)
    return counts


def _insert_sources(
    db: _Driver, records: Sequence[PreparedRecord], now: Any, run_id: int | None
) -> list[tuple[PreparedRecord, int]]:
    by_sha: dict[str, PreparedRecord] = {}
    for record in records:
        by_sha.setdefault(record.sha256, record)
    stored = db.existing_values("source_records", "sha256", list(by_sha))
    new = [record for sha, record in by_sha.items() if sha not in stored]
    if not new:
        return []
    # On SQLite the records take their ids from the table and are read back (a few hundred
    # at most).
    if db.dialect == "sqlite":
        db.insert(
            "source_records",
            _SOURCE_COLUMNS[1:],
            [(*record.source, now, run_id) for record in new],
        )
        found = db.ids_by_value("source_records", "sha256", [record.sha256 for record in new])
        ids = [found[record.sha256] for record in new]
    else:
        ids = list(db.allocate("source_records", len(new)))
        db.insert(
            "source_records",
            _SOURCE_COLUMNS,
            [(source_id, *r.source, now, run_id) for source_id, r in zip(ids, new, strict=True)],
        )
    errors = [
        (source_id, *error)
        for record, source_id in zip(new, ids, strict=True)
        for error in record.errors
    ]
    if errors:
        db.insert("api_errors", _ERROR_COLUMNS, errors)
    return list(zip(new, ids, strict=True))


def _latest(sightings: list[_Sighting]) -> _Sighting:
    """The most recent sighting; the first of equals."""
    best = sightings[0]
    for sighting in sightings[1:]:
        if sighting[2] > best[2]:
            best = sighting
    return best


def _earliest(sightings: list[_Sighting]) -> Any:
    return min(observed for _item, _source, observed in sightings)


def _once_per_source(sightings: list[_Sighting]) -> list[_Sighting]:
    """The first sighting from each source record (an observation is per source)."""
    if len(sightings) == 1:
        return sightings
    seen: set[int] = set()
    firsts = []
    for sighting in sightings:
        if sighting[1] not in seen:
            seen.add(sighting[1])
            firsts.append(sighting)
    return firsts


def _write_accounts(
    db: _Driver,
    sightings: dict[tuple[str, str], list[_Sighting]],
    counts: BatchCounts,
    known: KnownAccounts | None,
) -> None:
    if not sightings:
        return
    existing: dict[tuple[str, str], tuple[Any, ...]] = {}
    unknown = list(sightings)
    if known is not None:
        unknown = []
        for key in sightings:
            cached = known.get(key)
            if cached is None:
                unknown.append(key)
            else:
                existing[key] = cached
    existing.update(
        db.existing_by_key("accounts", unknown, ("profile_at", "handle", "display_name", "bio"))
    )
    new_keys = [key for key in sightings if key not in existing]
    ids: dict[tuple[str, str], int] = dict(
        zip(new_keys, db.allocate("accounts", len(new_keys)), strict=True)
    )
    new_rows = []
    renamed = []
    observations = []
    for key, seen_list in sightings.items():
        if len(seen_list) == 1:  # the common case, without the helpers' calls
            latest = seen_list[0]
            first_seen = latest[2]
            firsts = seen_list
        else:
            latest = _latest(seen_list)
            first_seen = _earliest(seen_list)
            firsts = _once_per_source(seen_list)
        fields = latest[0][0]
        row_id = ids.get(key)
        if row_id is not None:
            new_rows.append((row_id, *fields, first_seen, latest[2], seen_list[0][1]))
            state: tuple[Any, ...] = (row_id, latest[2], *fields[2:5])
        else:
            state = existing[key]  # (id, profile_at, handle, display_name, bio)
            row_id = state[0]
            # The profile columns hold the latest sighting; older sightings only add
            # observations.
            if latest[2] >= state[1] and state[2:] != fields[2:5]:
                renamed.append((*fields[2:5], latest[2], row_id))
                state = (row_id, latest[2], *fields[2:5])
        if known is not None:
            known.stage(key, state)
        for item, source_id, observed in firsts:
            observations.append((row_id, source_id, observed, *item[1]))
    counts.accounts_new += len(new_keys)
    counts.accounts_updated += len(sightings) - len(new_keys)
    db.insert("accounts", _ACCOUNT_COLUMNS, new_rows)
    if renamed:
        db.update("accounts", ("handle", "display_name", "bio", "profile_at"), renamed)
    db.insert("account_observations", _ACCOUNT_OBSERVATION_COLUMNS, observations)


def _version_time(sighting: _Sighting) -> Any:
    """When this text was current: the edit time if given, else when the post was made,
    else when it was seen."""
    moment = sighting[0][2]
    return sighting[2] if moment is None else moment


def _texts(sightings: list[_Sighting]) -> list[_Sighting]:
    """The first sighting of each distinct text of a post, oldest text first."""
    if len(sightings) == 1:
        return sightings
    distinct: dict[str, _Sighting] = {}
    for sighting in sightings:
        distinct.setdefault(sighting[0][1], sighting)
    return sorted(distinct.values(), key=_version_time)


def _write_posts(
    db: _Driver, groups: dict[tuple[str, str], list[_Sighting]], counts: BatchCounts
) -> None:
    if not groups:
        return
    existing = db.existing_by_key("posts", list(groups), ("version_count", "current_version_at"))
    new_keys = [key for key in groups if key not in existing]
    new_ids = db.allocate("posts", len(new_keys))
    counts.posts_new += len(new_keys)
    new_rows: list[Row] = []
    version_rows: list[Row] = []
    observations: list[Row] = []
    media: dict[tuple[int, str], Row] = {}
    for key, post_id in zip(new_keys, new_ids, strict=True):
        sightings = groups[key]
        if len(sightings) == 1:  # the common case, without the helpers' calls
            item, source_id, observed = sightings[0]
            moment = item[2]
            new_rows.append(
                (post_id, *item[0], 1, observed if moment is None else moment, observed, source_id)
            )
            version_rows.append((post_id, 1, *item[3], observed, source_id))
            observations.append((post_id, source_id, observed, *item[4]))
            for medium in item[5]:
                media.setdefault((post_id, medium[0]), (post_id, *medium, source_id))
            continue
        texts = _texts(sightings)
        current = texts[-1]
        new_rows.append(
            (
                post_id,
                *current[0][0],
                len(texts),
                _version_time(current),
                _earliest(sightings),
                sightings[0][1],
            )
        )
        for number, (item, source_id, observed) in enumerate(texts, start=1):
            version_rows.append((post_id, number, *item[3], observed, source_id))
        _observe(post_id, sightings, observations, media)

    old_keys = [key for key in groups if key in existing]
    counts.posts_updated += len(old_keys)
    if old_keys:
        _add_versions_to_existing(db, old_keys, existing, groups, version_rows, counts)
        for key in old_keys:
            _observe(existing[key][0], groups[key], observations, media)
    db.insert("posts", _POST_COLUMNS, new_rows)
    db.insert("post_versions", _VERSION_COLUMNS, version_rows)
    db.insert("post_observations", _POST_OBSERVATION_COLUMNS, observations)
    if media:
        existing_ids = {existing[key][0] for key in old_keys}
        recheck = sorted({post_id for post_id, _ in media if post_id in existing_ids})
        stored = db.pairs("media", "media_key", recheck)
        db.insert(
            "media", _MEDIA_COLUMNS, [row for pair, row in media.items() if pair not in stored]
        )


def _observe(
    post_id: int,
    sightings: list[_Sighting],
    observations: list[Row],
    media: dict[tuple[int, str], Row],
) -> None:
    """An observation per source record, and each media item once (its first sighting)."""
    for item, source_id, _observed in sightings:
        for medium in item[5]:
            media.setdefault((post_id, medium[0]), (post_id, *medium, source_id))
    for item, source_id, observed in _once_per_source(sightings):
        observations.append((post_id, source_id, observed, *item[4]))


def _add_versions_to_existing(
    db: _Driver,
    keys: list[tuple[str, str]],
    existing: dict[tuple[str, str], tuple[Any, ...]],
    groups: dict[tuple[str, str], list[_Sighting]],
    version_rows: list[Row],
    counts: BatchCounts,
) -> None:
    stored = db.pairs("post_versions", "text_sha256", [existing[key][0] for key in keys])
    with_text: list[Row] = []
    count_only: list[Row] = []
    for key in keys:
        post_id, version_count, current_at = existing[key]
        added = [s for s in _texts(groups[key]) if (post_id, s[0][1]) not in stored]
        if not added:
            continue
        counts.posts_edited += 1
        for offset, (item, source_id, observed) in enumerate(added, start=1):
            version_rows.append((post_id, version_count + offset, *item[3], observed, source_id))
        newest = added[-1]
        newest_at = _version_time(newest)
        # Seeing an older version late must not replace the current text.
        if current_at is None or newest_at >= current_at:
            text = newest[0][0][4]
            with_text.append((version_count + len(added), text, newest_at, post_id))
        else:
            count_only.append((version_count + len(added), post_id))
    if with_text:
        db.update("posts", ("version_count", "text", "current_version_at"), with_text)
    if count_only:
        db.update("posts", ("version_count",), count_only)


class _Driver:
    """The batch's statements, on the driver's own cursor (the connection's transaction):
    SQLAlchemy's per-row bookkeeping cost more than the database work itself."""

    def __init__(self, conn: Connection) -> None:
        self.dialect = conn.dialect.name
        self.to_db = db_time(self.dialect)
        self.quote = conn.dialect.identifier_preparer.quote
        self.cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        self.postgres = self.dialect == "postgresql"
        self.mark = "%s" if self.postgres else "?"
        self._types: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        self._sequences: dict[str, str] = {}

    def _names(self, columns: Sequence[str]) -> str:
        return ", ".join(self.quote(name) for name in columns)

    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """``column IN values``; on PostgreSQL as ``= ANY(array)``, one parameter instead of
        hundreds, which psycopg would otherwise parse into the statement text each time."""
        if self.postgres:
            return f"{self.quote(column)} = ANY(%s)", [list(values)]
        return f"{self.quote(column)} IN ({', '.join('?' * len(values))})", list(values)

    def _chunks(self, values: Sequence[Any]) -> Iterable[Sequence[Any]]:
        """``values`` in pieces that fit one query. PostgreSQL takes them all in one array
        parameter: the accounts of a batch in pieces were a scan of the table each (20,000
        X posts: 18 queries, 200 to 280 ms, against 160 to 190 in one)."""
        if self.postgres:
            return [values] if values else []
        return _chunks(values)

    def _select(self, sql: str, params: list[Any]) -> list[Any]:
        self.cursor.execute(sql, params)
        return self.cursor.fetchall()

    def insert(self, table: str, columns: Sequence[str], rows: list[Row]) -> None:
        """Rows in ``columns`` order. On PostgreSQL as binary COPY: the server takes each value
        as it stores it instead of parsing its text, and psycopg writes times and numbers
        without formatting them (300,000 X posts: 127 and 128 against 148 and 136 us of the
        ingest's CPU a post, alternating)."""
        if not rows:
            return
        target = f"{self.quote(table)} ({self._names(columns)})"
        if self.postgres:
            types = self._copy_types(table, columns)
            with self.cursor.copy(f"COPY {target} FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" * len(columns))
        self.cursor.executemany(f"INSERT INTO {target} VALUES ({marks})", rows)

    def _copy_types(self, table: str, columns: Sequence[str]) -> list[str]:
        """The columns' PostgreSQL types, which binary COPY must be told, as the catalogue
        has them (so they follow the migrations). A JSON value's binary form is its text."""
        key = (table, tuple(columns))
        types = self._types.get(key)
        if types is None:
            found = dict(
                self._select(
                    "SELECT a.attname, t.typname FROM pg_attribute a"
                    " JOIN pg_type t ON t.oid = a.atttypid"
                    " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
                    [self.quote(table)],
                )
            )
            types = self._types[key] = [
                "text" if found[name] == "json" else found[name] for name in columns
            ]
        return types

    def update(self, table: str, columns: Sequence[str], rows: list[Row]) -> None:
        """``UPDATE table SET columns... WHERE id = ?``; each row ends with its id."""
        sets = ", ".join(f"{self.quote(name)} = {self.mark}" for name in columns)
        self.cursor.executemany(
            f"UPDATE {self.quote(table)} SET {sets} WHERE id = {self.mark}", rows
        )

    def take_write_lock(self) -> None:
        """Wait until no other batch is being written, and hold that until this transaction
        ends, before the batch reads what is stored: otherwise two ingests of overlapping
        files both found a record, post or account missing, and the second failed on the
        unique key when it inserted it. Parsing is not held up, only writing.

        SQLite has one write lock, which its first write would take: ``BEGIN IMMEDIATE`` takes
        it now (unless the caller's transaction already wrote, and so holds it). PostgreSQL:
        an advisory lock held until the transaction ends."""
        if self.postgres:
            self._select("SELECT pg_advisory_xact_lock(%s)", [_WRITE_LOCK])
        elif not self.cursor.connection.in_transaction:
            self.cursor.execute("BEGIN IMMEDIATE")

    def quiet_stamps(self) -> tuple[object | None, object | None]:
        """(this transaction's stamp, the stamp the next one shows if no other connection
        writes in between); None where the database cannot vouch for that.

        SQLite: ``PRAGMA data_version``, which changes when another connection commits.

        PostgreSQL: this transaction's id, assigned here, if every earlier transaction id had
        ended and none was assigned since the statement's snapshot; the next batch then
        vouches for the time between by having the very next id. Any other writer takes an id
        of its own, so it breaks the sequence, and a transaction still open here shows in the
        snapshot. Ids are shared by every database of the server: a write anywhere else only
        costs the cache a refill, and so does the ingest's own ANALYZE unless it runs inside
        a batch (``loader._Statistics``)."""
        if not self.postgres:
            [(version,)] = self._select("PRAGMA data_version", [])
            return int(version), int(version)
        [(xid, latest, quiet)] = self._select(
            "SELECT pg_current_xact_id()::text::bigint,"
            " pg_snapshot_xmax(pg_current_snapshot())::text::bigint,"
            " NOT EXISTS (SELECT FROM pg_snapshot_xip(pg_current_snapshot()))",
            [],
        )
        if not quiet or xid != latest:
            return None, None
        return xid, xid + 1

    def allocate(self, table: str, count: int) -> Sequence[int]:
        """Ids for ``count`` new rows of ``table``."""
        if not count:
            return []
        if self.postgres:
            rows = self._select(
                "SELECT nextval(%s::regclass) FROM generate_series(1, %s)",
                [self._sequence(table), count],
            )
            return [row[0] for row in rows]
        # Safe only under the write lock the batch took first (module doc).
        [(top,)] = self._select(f"SELECT coalesce(max(id), 0) FROM {self.quote(table)}", [])
        return range(top + 1, top + 1 + count)

    def _sequence(self, table: str) -> str:
        """The sequence behind ``table``'s id, looked up once: inside ``nextval`` the lookup ran
        for every id (20,000 ids: 150 ms against 20)."""
        sequence = self._sequences.get(table)
        if sequence is None:
            [(sequence,)] = self._select(
                "SELECT pg_get_serial_sequence(%s, 'id')", [self.quote(table)]
            )
            self._sequences[table] = sequence
        return sequence

    def existing_values(self, table: str, column: str, values: list[str]) -> set[str]:
        found: set[str] = set()
        for chunk in self._chunks(values):
            where, params = self._in(column, chunk)
            found.update(
                row[0]
                for row in self._select(
                    f"SELECT {self.quote(column)} FROM {self.quote(table)} WHERE {where}", params
                )
            )
        return found

    def ids_by_value(self, table: str, column: str, values: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in self._chunks(values):
            where, params = self._in(column, chunk)
            found.update(
                self._select(
                    f"SELECT {self.quote(column)}, id FROM {self.quote(table)} WHERE {where}",
                    params,
                )
            )
        return found

    def existing_by_key(
        self, table: str, keys: list[tuple[str, str]], extra: tuple[str, ...]
    ) -> dict[tuple[str, str], tuple[Any, ...]]:
        """Rows already stored for (platform, native_id) keys: key -> (id, *extra), with times
        in database form."""
        by_platform: dict[str, list[str]] = {}
        for platform, native_id in keys:
            by_platform.setdefault(platform, []).append(native_id)
        columns = self._names(("native_id", "id", *extra))
        found: dict[tuple[str, str], tuple[Any, ...]] = {}
        for platform, native_ids in by_platform.items():
            for chunk in self._chunks(native_ids):
                where, params = self._in("native_id", chunk)
                rows = self._select(
                    f"SELECT {columns} FROM {self.quote(table)} "
                    f"WHERE platform = {self.mark} AND {where}",
                    [platform, *params],
                )
                for row in rows:
                    found[(platform, row[0])] = tuple(row[1:])
        return found

    def pairs(self, table: str, column: str, post_ids: list[int]) -> set[tuple[int, str]]:
        """(post_id, column) of the rows of ``table`` that belong to ``post_ids``."""
        found: set[tuple[int, str]] = set()
        for chunk in self._chunks(post_ids):
            where, params = self._in("post_id", chunk)
            found.update(
                (row[0], row[1])
                for row in self._select(
                    f"SELECT post_id, {self.quote(column)} FROM {self.quote(table)} WHERE {where}",
                    params,
                )
            )
        return found


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- Helpers for rows given as dictionaries (store.detections) -------------------------------


def _bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows with the driver's fastest path: COPY on PostgreSQL, a plain
    executemany of tuples on SQLite. Values are converted as each column's type would
    convert them, without SQLAlchemy's per-row dictionaries."""
    if not rows:
        return
    columns = [table.c[name] for name in rows[0]]
    keys = [column.name for column in columns]
    to_db = db_time(conn.dialect.name)
    converters = [
        (i, _json_text if isinstance(column.type, JSON) else to_db)
        for i, column in enumerate(columns)
        if isinstance(column.type, JSON | t.UTCDateTime)
    ]
    values = []
    for row in rows:
        line = [row[k] for k in keys]
        for i, convert in converters:
            if line[i] is not None:
                line[i] = convert(line[i])
        values.append(tuple(line))
    _Driver(conn).insert(table.name, keys, values)


def _json_text(value: Any) -> str:
    if not value:
        return "[]" if isinstance(value, list | tuple) else "{}"
    return orjson.dumps(value).decode()


def _in(conn: Connection, column: Any, values: Sequence[Any]) -> Any:
    """``column IN values``; on PostgreSQL as ``= ANY(array)``, one parameter instead of
    hundreds, which psycopg would otherwise parse into the statement text each time."""
    if conn.dialect.name == "postgresql":
        return column == any_(literal(list(values), ARRAY(column.type)))
    return column.in_(values)


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
