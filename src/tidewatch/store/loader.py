"""Load a stream of bundles (and record errors) into the database in committed batches."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, insert, text, update

from tidewatch.errors import RecordError
from tidewatch.model import Bundle
from tidewatch.store import tables as t
from tidewatch.store.writer import BatchCounts, write_batch

MAX_ERROR_SAMPLES = 50
#: A batch is also cut when it holds this many posts, so memory stays bounded when one source
#: record holds many posts (an API page of 100 tweets, an export of a whole channel).
MAX_BATCH_POSTS = 5000


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
    report = IngestReport(input_name=input_name)
    with engine.begin() as conn:
        report.run_id = conn.execute(
            insert(t.ingest_runs).values(
                input_name=input_name, started_at=datetime.now(UTC), status="running"
            )
        ).inserted_primary_key[0]  # type: ignore[index]

    batch: list[Bundle] = []
    batch_posts = 0
    statistics = _Statistics(engine)

    def flush() -> None:
        nonlocal batch_posts
        batch_posts = 0
        if not batch:
            return
        with engine.begin() as conn:
            counts = write_batch(conn, batch, run_id=report.run_id)
            if after_write:
                after_write(conn, batch)
        report.counts.add(counts)
        statistics.written(
            counts.posts_new + counts.accounts_new + counts.records - counts.records_skipped
        )
        batch.clear()
        if on_batch:
            on_batch(report)

    try:
        for item in items:
            if isinstance(item, RecordError):
                report.errors += 1
                if len(report.error_samples) < MAX_ERROR_SAMPLES:
                    report.error_samples.append(str(item))
                if on_error:
                    on_error(item)
                continue
            report.format = report.format or item.source.format
            batch.append(item)
            batch_posts += len(item.posts)
            if len(batch) >= batch_size or batch_posts >= max_batch_posts:
                flush()
        flush()
    except BaseException:
        _finish(engine, report, status="failed")
        raise
    _finish(engine, report, status="finished")
    return report


class _Statistics:
    """Keep PostgreSQL's planner statistics in step with a growing ingest.

    Without fresh statistics (autovacuum off, or not yet run on a table that grew from
    nothing within minutes) the planner takes a million-row ``posts`` table for a small one
    and answers the per-batch key look-ups with a scan of the whole table: ingest then slows
    down as the table grows (measured: 4,100 posts/s at 50,000 posts, 2,000 at 300,000).
    ANALYZE whenever the rows written have doubled keeps the look-ups on the index, at a
    logarithmic number of ANALYZE runs.
    """

    TABLES = ("source_records", "accounts", "posts", "post_versions", "media")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.enabled = engine.dialect.name == "postgresql"
        self.since = 0
        self.next_at = 5_000

    def written(self, rows: int) -> None:
        if not self.enabled:
            return
        self.since += rows
        if self.since < self.next_at:
            return
        with self.engine.begin() as conn:
            for table in self.TABLES:
                conn.execute(text(f"ANALYZE {conn.dialect.identifier_preparer.quote(table)}"))
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
