"""The tidewatch command as a user runs it: a real process, real files, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import FIXTURES
from tidewatch.cli import demo_files
from tidewatch.store import make_engine
from tidewatch.store import tables as t


def tidewatch(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tidewatch.cli", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=300,
    )


def post_count(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(t.posts)).scalar_one()
    engine.dispose()
    return count


def test_ingest_prints_a_summary_per_file_and_exits_zero(database_url: str) -> None:
    fixture = FIXTURES / "x_twitter_v2" / "twarc2_two_tweets.jsonl"
    result = tidewatch("ingest", str(fixture), "--database-url", database_url)
    assert result.returncode == 0, result.stderr
    assert "twarc2_two_tweets.jsonl" in result.stdout and "x_v2" in result.stdout
    assert post_count(database_url) > 0


def test_bad_lines_are_named_on_stderr_and_the_exit_code_is_one(tmp_path: Path) -> None:
    source = tmp_path / "mixed.jsonl"
    source.write_text(
        json.dumps({"id": "1", "text": "ok"})
        + "\n{broken\n"
        + json.dumps({"id": "2", "text": "ok"})
        + "\n"
    )
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = tidewatch("ingest", str(source), "--database-url", url)
    assert result.returncode == 1
    assert f"{source}:2" in result.stderr
    assert post_count(url) == 2


def test_an_unreadable_file_exits_two_and_other_files_are_still_ingested(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("id,text\n1,hello\n")
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = tidewatch("ingest", str(tmp_path / "missing.json"), str(good), "--database-url", url)
    assert result.returncode == 2
    assert "missing.json: cannot open" in result.stderr
    assert post_count(url) == 1


def test_standard_input_is_read_with_a_dash(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = tidewatch(
        "ingest", "-", "--database-url", url, stdin=b'{"id": "9", "text": "from stdin"}\n'
    )
    assert result.returncode == 0, result.stderr
    assert post_count(url) == 1


def test_an_unknown_format_name_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("id,text\n1,hello\n")
    result = tidewatch(
        "ingest",
        str(good),
        "--format",
        "myspace",
        "--database-url",
        f"sqlite:///{tmp_path / 'd.db'}",
    )
    assert result.returncode == 2
    assert "unknown format 'myspace'" in result.stderr and "x_v2" in result.stderr


@pytest.mark.slow
def test_demo_loads_every_bundled_file_and_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    first = tidewatch("demo", "--database-url", url)
    assert first.returncode == 0, first.stderr
    labels = (demo_files()[0].parent / "labels.jsonl").read_text().splitlines()
    assert post_count(url) == len(labels)
    assert "The database holds" in first.stdout
    second = tidewatch("demo", "--database-url", url)
    assert second.returncode == 0
    assert post_count(url) == len(labels)


def test_demo_labels_name_exactly_the_posts_the_readers_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    assert tidewatch("demo", "--database-url", url).returncode == 0
    labels = [
        json.loads(line)
        for line in (demo_files()[0].parent / "labels.jsonl").read_text().splitlines()
    ]
    engine = make_engine(url)
    with engine.connect() as conn:
        stored = set(conn.execute(select(t.posts.c.platform, t.posts.c.native_id)).all())
    engine.dispose()
    assert {(label["platform"], label["native_id"]) for label in labels} == stored


def test_file_names_and_error_text_are_printed_literally_not_as_markup(tmp_path: Path) -> None:
    folder = tmp_path / "[red]x"
    folder.mkdir()
    source = folder / "[bold]evil.jsonl"
    source.write_text('{"id": "1", "text": "ok"}\n{"id": "[bold]INJECT[/bold]", "text\n')
    result = tidewatch(
        "ingest", str(source), "--database-url", f"sqlite:///{tmp_path / 'db.sqlite'}"
    )
    assert result.returncode == 1
    assert "[bold]evil.jsonl" in result.stdout
    assert f"{source}:2" in result.stderr
