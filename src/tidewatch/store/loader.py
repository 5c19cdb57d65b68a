"""Load a stream of bundles (and record errors) into the database in committed batches.

:func:`load` takes bundles already read; :func:`load_stream` reads an input itself and, for
JSON lines, parses it in worker processes while this process only writes
(:mod:`tidewatch.ingest.parallel`): on two cores that nearly doubles throughput, and the
transactions, their contents and the order of errors are those of :func:`load`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import Connection, Engine, insert, update
from sqlalchemy.exc import DBAPIError

from tidewatch.errors import RecordError
from tidewatch.gcpause import collector_paused
from tidewatch.ingest import read_stream
from tidewatch.ingest.framing import Limits, PeekableStream
from tidewatch.ingest.parallel import read_stream_parallel
from tidewatch.model import Bundle
from tidewatch.store import tables as t
from tidewatch.store.checkpoints import BackgroundCheckpoints
from tidewatch.store.writer import (
    BatchCounts,
    KnownAccounts,
    PreparedBatch,
    PreparedRecord,
    apply_batch,
    db_time,
    prepare_record,
    prepare_record_fields,
)

MAX_ERROR_SAMPLES = 50
#: A batch is also cut when it holds this many posts, so memory stays bounded when one source
#: record holds many posts (an API page of 100 tweets, an export of a whole channel).
#: Every commit writes each page the batch changed, and posts reach some indexes in random
#: order (by account, and each account's observations), so a batch changes most of those
#: indexes' pages however few posts it holds: four times fewer commits wrote 38% fewer
#: bytes (1,000,000 X posts into SQLite: 15.8 GB -> 9.9 GB; the writer's CPU 53 -> 48 us a
#: post).
MAX_BATCH_POSTS = 20_000


@dataclass
class IngestReport:
    input_name: str
    format: str = ""
    counts: BatchCounts = field(default_factory=BatchCounts)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    run_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.errors == 0


Progress = Callable[[IngestReport], None]


def default_workers() -> int:
    """Parsing processes for :func:`load_stream`: ``TIDEWATCH_INGEST_WORKERS`` if set (1:
    parse in the writing process), else one per core (the writer shares them)."""
    configured = os.environ.get("TIDEWATCH_INGEST_WORKERS", "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return os.cpu_count() or 1


def load(
    engine: Engine,
    items: Iterable[Bundle | RecordError],
    *,
    input_name: str,
    batch_size: int = 500,
    max_batch_posts: int = MAX_BATCH_POSTS,
    on_batch: Progress | None = None,
    on_error: Callable[[RecordError], None] | None = None,
    after_write: Callable[[Connection, list[Bundle]], None] | None = None,
) -> IngestReport:
    """Write ``items`` in transactions of at most ``batch_size`` bundles (and about
    ``max_batch_posts`` posts); record errors are counted,
    reported through ``on_error`` and kept (a sample) on the run row, never fatal.
    ``after_write`` runs inside each batch's transaction (detection uses it, so a post and
    its detection are committed together)."""
    to_db = db_time(engine.dialect.name)
    records: Iterator[RecordError | tuple[PreparedRecord, Bundle | None]] = (
        item if isinstance(item, RecordError) else (prepare_record(item, to_db), item)
        for item in items
    )
    return _load(
        engine,
        records,
        input_name=input_name,
        batch_size=batch_size,
        max_batch_posts=max_batch_posts,
        on_batch=on_batch,
        on_error=on_error,
        after_write=after_write,
    )


def load_stream(
    engine: Engine,
    stream: PeekableStream,
    *,
    input_name: str,
    format: str | None = None,
    collector: str = "",
    limits: Limits | None = None,
    workers: int | None = None,
    batch_size: int = 500,
    max_batch_posts: int = MAX_BATCH_POSTS,
    on_batch: Progress | None = None,
    on_error: Callable[[RecordError], None] | None = None,
    after_write: Callable[[Connection, list[Bundle]], None] | None = None,
) -> IngestReport:
    """Read ``stream`` (any supported format) and write it as :func:`load` does. JSON lines
    are parsed by ``workers`` processes (default :func:`default_workers`; 1: none) while
    this one writes; with ``after_write``, which needs the bundles, all runs here."""
    workers = default_workers() if workers is None else workers
    if after_write is not None or workers < 2:
        return load(
            engine,
            read_stream(stream, format=format, collector=collector, limits=limits),
            input_name=input_name,
            batch_size=batch_size,
            max_batch_posts=max_batch_posts,
            on_batch=on_batch,
            on_error=on_error,
            after_write=after_write,
        )
    items = read_stream_parallel(
        stream,
        prepare=partial(prepare_record_fields, to_db=db_time(engine.dialect.name)),
        workers=workers,
        format=format,
        collector=collector,
        limits=limits,
    )
    records: Iterator[RecordError | tuple[PreparedRecord, Bundle | None]] = (
        item if isinstance(item, RecordError) else (PreparedRecord(*item), None) for item in items
    )
    try:
        return _load(
            engine,
            records,
            input_name=input_name,
            batch_size=batch_size,
            max_batch_posts=max_batch_posts,
            on_batch=on_batch,
            on_error=on_error,
        )
    finally:
        items.close()  # stops the workers now, also when writing failed


def _load(
    engine: Engine,
    items: Iterator[RecordError | tuple[PreparedRecord, Bundle | None]],
    *,
    input_name: str,
    batch_size: int,
    max_batch_posts: int,
    on_batch: Progress | None,
    on_error: Callable[[RecordError], None] | None,
    after_write: Callable[[Connection, list[Bundle]], None] | None = None,
) -> IngestReport:
    report = IngestReport(input_name=input_name)
    with engine.begin() as conn:
        report.run_id = conn.execute(
            insert(t.ingest_runs).values(
                input_name=input_name, started_at=datetime.now(UTC), status="running"
            )
        ).inserted_primary_key[0]  # type: ignore[index]

    dialect = engine.dialect.name
    batch: list[PreparedRecord] = []
    bundles: list[Bundle] = []
    batch_posts = 0
    statistics = _Statistics(dialect)
    known_accounts = KnownAccounts()
    checkpoints = BackgroundCheckpoints(engine) if _file_sqlite(engine) else None
    without_triggers = _may_write_without_triggers(engine)

    def flush(writer: Connection) -> None:
        nonlocal batch_posts
        batch_posts = 0
        if not batch:
            return
        if checkpoints is not None:
            checkpoints.before_batch()
        try:
            with writer.begin():
                if without_triggers:
                    writer.exec_driver_sql(f"SET LOCAL session_replication_role = {_REPLICA}")
                counts = apply_batch(
                    writer,
                    PreparedBatch(dialect, batch),
                    run_id=report.run_id,
                    known_accounts=known_accounts,
                )
                if without_triggers:
                    writer.exec_driver_sql(f"SET LOCAL session_replication_role = {_ORIGIN}")
                statistics.written(
                    writer,
                    counts.posts_new
                    + counts.accounts_new
                    + counts.records
                    - counts.records_skipped,
                )
                if after_write:
                    after_write(writer, bundles)
        except BaseException:
            known_accounts.rolled_back()
            raise
        known_accounts.committed()
        if checkpoints is not None:
            checkpoints.committed()
        report.counts.add(counts)
        batch.clear()
        bundles.clear()
        if on_batch:
            on_batch(report)

    try:
        # One connection for every batch, so its SQLite page cache stays warm between them.
        with (
            collector_paused(),
            engine.connect() as writer,
            _sqlite_bulk_settings(writer, check_references=after_write is not None),
            checkpoints or nullcontext(),
        ):
            for item in items:
                if isinstance(item, RecordError):
                    report.errors += 1
                    if len(report.error_samples) < MAX_ERROR_SAMPLES:
                        report.error_samples.append(str(item))
                    if on_error:
                        on_error(item)
                    continue
                record, bundle = item
                report.format = report.format or record.source[1]
                batch.append(record)
                if bundle is not None:
                    bundles.append(bundle)
                batch_posts += len(record.posts)
                if len(batch) >= batch_size or batch_posts >= max_batch_posts:
                    flush(writer)
            flush(writer)
    except BaseException:
        _finish(engine, report, status="failed")
        raise
    _finish(engine, report, status="finished")
    return report


#: SQLite page cache of the ingest's connection while it writes (KiB). The default (2 MiB)
#: holds little of the indexes that take posts in random order (by account, by creation
#: time), so every batch read their pages again (measured at 100,000 X posts: 61 -> 53 us of
#: write CPU per post); the bigger the database, the more it matters. A batch of
#: MAX_BATCH_POSTS X posts changes about 6,000 pages of 16 KiB, which must fit, or SQLite
#: writes them into the WAL before the commit, and again at it (256 MiB measured the same
#: as 128, with 200 MiB more memory).
SQLITE_CACHE_KIB = 128 * 1024


@contextmanager
def _sqlite_bulk_settings(conn: Connection, *, check_references: bool) -> Iterator[None]:
    """The ingest connection's page cache, whether it copies its WAL into the database, and
    whether it checks foreign keys, restored afterwards (the connection goes back to the pool).

    The connection leaves copying its WAL to :class:`BackgroundCheckpoints` (SQLite's
    default is to copy at the end of a commit, once 1,000 pages have piled up).

    Foreign keys are not checked while the writer's batches run, for the reasons given at
    :func:`_may_write_without_triggers`: 1,000,000 X posts went in 7% faster (49.0 and 48.7 s
    against 54.1 and 52.1 s). SQLite can only switch them outside a transaction, so with
    ``after_write`` in the batches (``check_references``) they stay on."""
    if conn.dialect.name != "sqlite":
        yield
        return
    cache = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
    checkpoint = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
    foreign_keys = conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one()
    conn.exec_driver_sql(f"PRAGMA cache_size = {-SQLITE_CACHE_KIB}")
    conn.exec_driver_sql("PRAGMA wal_autocheckpoint = 0")
    if SKIP_REFERENCE_CHECKS and not check_references:
        conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
    conn.commit()
    try:
        yield
    finally:
        if not conn.invalidated:
            conn.exec_driver_sql(f"PRAGMA cache_size = {int(cache)}")
            conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint = {int(checkpoint)}")
            conn.exec_driver_sql(f"PRAGMA foreign_keys = {int(foreign_keys)}")
            conn.commit()


def _file_sqlite(engine: Engine) -> bool:
    """Is ``engine`` an SQLite database in a file (which has a WAL to copy)?"""
    return engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:")


#: Whether the writer's batches skip the database's foreign-key checks: on PostgreSQL where
#: the role may (:func:`_may_write_without_triggers`), on SQLite unless ``after_write`` is
#: given (:func:`_sqlite_bulk_settings`).
SKIP_REFERENCE_CHECKS = True
_REPLICA = "replica"
_ORIGIN = "origin"
_INSUFFICIENT_PRIVILEGE = "42501"


def _may_write_without_triggers(engine: Engine) -> bool:
    """Can the batches' own statements run with PostgreSQL's foreign-key triggers off?

    PostgreSQL checks every foreign key of every inserted row with a query of its own (seven
    a post: its version, observation and author's observation each point at a post or
    account and at a source record). The writer makes those references itself, in the same
    transaction as their targets or to rows it has just read, and Tidewatch never deletes a
    post, account or source record, so the checks cannot fail; skipping them took 300,000 X
    posts from about 9,100 to about 12,400 posts/s (docs/ingest.md). ``session_replication_role =
    replica`` skips them, as ``pg_restore --disable-triggers`` does; PostgreSQL lets only a
    superuser set it, or a role granted it (PostgreSQL 15: ``GRANT SET ON PARAMETER
    session_replication_role TO ...``). Other roles get the checks, and the same rows.
    The setting is local to each batch's transaction and covers only the writer's
    statements, not ``after_write``'s.
    """
    if engine.dialect.name != "postgresql" or not SKIP_REFERENCE_CHECKS:
        return False
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"SET LOCAL session_replication_role = {_REPLICA}")
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) == _INSUFFICIENT_PRIVILEGE:
            return False
        raise
    return True


class _Statistics:
    """Keep PostgreSQL's planner statistics in step with a growing ingest.

    Without fresh statistics (autovacuum off, or not yet run on a table that grew from
    nothing within minutes) the planner takes a million-row ``posts`` table for a small one
    and answers the per-batch key look-ups with a scan of the whole table: ingest then slows
    down as the table grows (measured: 4,100 posts/s at 50,000 posts, 2,000 at 300,000).
    ANALYZE whenever the rows written have doubled keeps the look-ups on the index, at a
    logarithmic number of ANALYZE runs.

    ANALYZE runs inside the batch's own transaction: in a transaction of its own it took a
    transaction id of its own, which told the writer's cache of known accounts that someone
    else might have written (``writer.KnownAccounts``), and the next batch selected all its
    accounts again (three batches of ten at 200,000 X posts).
    """

    TABLES = ("source_records", "accounts", "posts", "post_versions", "media")

    def __init__(self, dialect: str) -> None:
        self.enabled = dialect == "postgresql"
        self.since = 0
        self.next_at = 5_000

    def written(self, conn: Connection, rows: int) -> None:
        """``rows`` more were written by the batch ``conn`` is writing."""
        if not self.enabled:
            return
        self.since += rows
        if self.since < self.next_at:
            return
        for table in self.TABLES:
            conn.exec_driver_sql(f"ANALYZE {conn.dialect.identifier_preparer.quote(table)}")
        self.next_at = self.since * 2


def _finish(engine: Engine, report: IngestReport, *, status: str) -> None:
    c = report.counts
    with engine.begin() as conn:
        conn.execute(
            update(t.ingest_runs)
            .where(t.ingest_runs.c.id == report.run_id)
            .values(
                format=report.format,
                finished_at=datetime.now(UTC),
                status=status,
                records=c.records,
                records_skipped=c.records_skipped,
                errors=report.errors,
                posts_new=c.posts_new,
                posts_updated=c.posts_updated,
                posts_edited=c.posts_edited,
                accounts_new=c.accounts_new,
                accounts_updated=c.accounts_updated,
                error_samples=report.error_samples,
            )
        )
