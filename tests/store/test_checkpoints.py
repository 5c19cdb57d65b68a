"""The WAL of an SQLite ingest is copied into the database by a thread of its own
(tidewatch.store.checkpoints), on real database files."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text

from tests.store.test_parallel_ingest import write_input
from tidewatch.ingest import open_input
from tidewatch.store import checkpoints, make_engine, migrate
from tidewatch.store.checkpoints import BackgroundCheckpoints
from tidewatch.store.loader import load_stream

PAGE = 16_384
WAL_HEADER, FRAME_HEADER = 32, 24


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "wal.db"


@pytest.fixture
def sqlite_engine(database: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{database}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB)")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    yield engine
    engine.dispose()


@pytest.fixture
def writer(sqlite_engine: Engine) -> Iterator[Connection]:
    """A connection that never copies its WAL itself, as the ingest's writer."""
    with sqlite_engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_autocheckpoint = 0")
        conn.commit()
        yield conn


def write_batches(
    writer: Connection, background: BackgroundCheckpoints, batches: int, pages: int = 20
) -> None:
    """What the loader does around each batch, with batches of about ``pages`` pages."""
    for _ in range(batches):
        background.before_batch()
        write_pages(writer, pages)
        background.committed()


def write_pages(writer: Connection, pages: int) -> None:
    """One transaction that adds about ``pages`` pages."""
    with writer.begin():
        writer.execute(
            text("INSERT INTO blobs (body) VALUES (randomblob(:size))"), {"size": pages * PAGE}
        )


def rows_in_database_file(database: Path, table: str, tmp_path: Path) -> int:
    """Rows of ``table`` in the database file alone, without its WAL: what has been copied."""
    alone = tmp_path / "alone.db"
    shutil.copyfile(database, alone)
    with sqlite3.connect(alone) as conn:
        [(count,)] = conn.execute(f"SELECT count(*) FROM {table}").fetchall()
    alone.unlink()
    return int(count)


def wal_frames_on_disk(database: Path) -> int:
    size = database.with_name(database.name + "-wal").stat().st_size
    return (size - WAL_HEADER) // (FRAME_HEADER + PAGE)


def test_what_the_writer_commits_is_copied_by_the_thread(
    sqlite_engine: Engine, writer: Connection, database: Path, tmp_path: Path
) -> None:
    with BackgroundCheckpoints(sqlite_engine) as background:
        write_batches(writer, background, 3)
    assert background.runs >= 1
    # Everything committed is in the database file, though the writer never copied.
    assert rows_in_database_file(database, "blobs", tmp_path) == 3


def test_without_the_thread_the_writer_leaves_its_wal_uncopied(
    writer: Connection, database: Path, tmp_path: Path
) -> None:
    """The control for the test above: the copying is the thread's doing."""
    for _ in range(3):
        write_pages(writer, 20)
    assert rows_in_database_file(database, "blobs", tmp_path) == 0


def test_the_wal_starts_again_every_few_commits(
    sqlite_engine: Engine, writer: Connection, database: Path
) -> None:
    with BackgroundCheckpoints(sqlite_engine, restart_every=3) as background:
        write_batches(writer, background, 10)
    # Ten commits of 20 pages each; the file was started again every third one. Without
    # the restarts it holds them all (222 pages, measured).
    assert wal_frames_on_disk(database) < 100
    with sqlite3.connect(database) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert check.execute("SELECT count(*) FROM blobs").fetchone() == (10,)


def test_a_checkpoint_that_fails_stops_the_writer_with_its_error(
    writer: Connection, tmp_path: Path
) -> None:
    # A folder is not a database SQLite can open: the thread's connection fails.
    unopenable = make_engine(f"sqlite:///{tmp_path}")
    with (
        pytest.raises(sqlite3.OperationalError, match="unable to open database file"),
        BackgroundCheckpoints(unopenable) as background,
    ):
        write_batches(writer, background, 1, pages=1)


def test_an_ingest_ends_with_its_wal_copied_and_the_writer_settings_restored(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoints, "RESTART_EVERY", 1)  # start it again at every batch
    engine = make_engine(f"sqlite:///{database}")
    migrate(engine)
    source = tmp_path / "posts.jsonl"
    write_input(source)
    with open_input(source) as stream:
        report = load_stream(engine, stream, input_name=source.name, workers=2, batch_size=25)
    assert report.counts.posts_new == 180
    assert rows_in_database_file(database, "posts", tmp_path) == report.counts.posts_new
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 1000
        assert conn.exec_driver_sql("SELECT count(*) FROM posts").scalar_one() == (
            report.counts.posts_new
        )
    engine.dispose()
