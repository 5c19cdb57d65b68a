"""Parsing in worker processes changes nothing but the speed: the same rows, the same
transactions and the same errors, at the same lines, in the same order."""

from __future__ import annotations

import gc
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.store.test_crash_safety import snapshot
from tidewatch.errors import FormatError, RecordError
from tidewatch.ingest import open_input, parallel
from tidewatch.store import IngestReport, make_engine, migrate
from tidewatch.store.loader import load_stream
from tidewatch.store.writer import BatchCounts


def write_input(path: Path) -> None:
    """Generic JSON lines with edits (a post sent again with new text) and every kind of
    bad line between them."""
    with path.open("wb") as out:
        for number in range(300):
            post_id = number % 180
            record = {
                "id": str(post_id),
                "text": f"boat to uk {post_id} price {number // 180} تواصل",
                "author": f"acct{post_id % 17}",
                "platform": "facebook",
            }
            out.write(json.dumps(record, ensure_ascii=False).encode() + b"\n")
            if number % 41 == 5:
                out.write(b'{"id": "broken", "text": \n')
            if number % 53 == 7:
                out.write(b"\n")
            if number % 67 == 9:
                out.write(b'{"id": "x", "text": "\xff\xfe"}\n')
            if number % 71 == 11:
                out.write(b'{"text": "no id"}\n')


def ingest(path: Path, url: str, workers: int) -> tuple[IngestReport, list[str], list[BatchCounts]]:
    engine = make_engine(url)
    migrate(engine)
    errors: list[RecordError] = []
    batches: list[BatchCounts] = []
    with open_input(path) as stream:
        report = load_stream(
            engine,
            stream,
            input_name=path.name,
            workers=workers,
            batch_size=25,
            on_error=errors.append,
            on_batch=lambda r: batches.append(replace(r.counts)),
        )
    engine.dispose()
    return report, [str(e) for e in errors], batches


def test_workers_write_what_one_process_writes(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel, "CHUNK_LINES", 7)  # many chunks, so order is at stake
    source = tmp_path / "posts.jsonl"
    write_input(source)
    reference_url = f"sqlite:///{tmp_path / 'reference.db'}"

    report, errors, batches = ingest(source, database_url, workers=2)
    expected_report, expected_errors, expected_batches = ingest(source, reference_url, workers=1)

    assert errors == expected_errors
    assert len(errors) == report.errors > 10
    assert all(error.startswith(f"{source}:") for error in errors)  # file and line
    assert batches == expected_batches
    assert report.counts == expected_report.counts
    assert report.counts.posts_edited > 0
    assert snapshot(make_engine(database_url)) == snapshot(make_engine(reference_url))


def test_a_file_no_reader_recognises_is_refused_as_without_workers(tmp_path: Path) -> None:
    source = tmp_path / "unknown.jsonl"
    source.write_text('{"colour": "blue"}\n' * 10)
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    with open_input(source) as stream, pytest.raises(FormatError, match="not a format"):
        load_stream(engine, stream, input_name="unknown.jsonl", workers=2)


def test_the_collector_is_paused_while_writing_and_resumes_after(tmp_path: Path) -> None:
    source = tmp_path / "posts.jsonl"
    write_input(source)
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    seen_while_writing: list[bool] = []

    def note_collector(_report: IngestReport) -> None:
        seen_while_writing.append(gc.isenabled())

    with open_input(source) as stream:
        load_stream(
            engine, stream, input_name="posts.jsonl", batch_size=25, on_batch=note_collector
        )
    assert seen_while_writing and not any(seen_while_writing)
    assert gc.isenabled()

    # A failed write resumes it too.
    def fail(_report: IngestReport) -> None:
        raise RuntimeError("disk full")

    with open_input(source) as stream, pytest.raises(RuntimeError, match="disk full"):
        load_stream(engine, stream, input_name="posts.jsonl", batch_size=25, on_batch=fail)
    assert gc.isenabled()


@pytest.mark.parametrize(
    ("item", "written_by"),
    [
        (("sha", ("x", "2024-01-01 00:00:00.000000", b"raw", None, 3, 1.5), [()]), b"m"),
        (("sha", (datetime(2024, 1, 1, tzinfo=UTC),)), b"p"),  # PostgreSQL's rows hold datetimes
    ],
)
def test_results_cross_as_marshal_when_plain_and_pickled_otherwise(
    item: tuple[object, ...], written_by: bytes
) -> None:
    packed = parallel._pack([item, None, item], {1: ("invalid JSON", "posts.jsonl:2")})
    assert packed[:1] == written_by
    first, error, last = parallel._unpack(packed)
    assert first == last == item
    assert isinstance(error, RecordError)
    assert str(error) == "posts.jsonl:2: invalid JSON"
