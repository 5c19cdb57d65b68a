"""Kill -9 in the middle of a large ingest: nothing committed is lost, no half batch is visible,
and running the same command again ends with exactly the rows of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from tidewatch.store import make_engine, migrate
from tidewatch.store import tables as t
from tidewatch.store.loader import default_workers

BATCH = 200
LINES = 60_000
pytestmark = pytest.mark.slow


def write_input(path: Path) -> None:
    """Generic JSON lines; the second half re-sends the first half's posts with new text (edits)
    and some accounts, so versions, observations and accounts are all exercised."""
    half = LINES // 2
    with path.open("w", encoding="utf-8") as out:
        for number in range(LINES):
            post_id = number % half
            text = f"boat to uk {post_id} price {number} تواصل واتساب"
            record = {
                "id": str(post_id),
                "text": text,
                "author": f"acct{post_id % 997}",
                "platform": "facebook",
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def ingest_command(path: Path, url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tidewatch.cli",
        "ingest",
        str(path),
        "--batch-size",
        str(BATCH),
        "--database-url",
        url,
    ]


def count(engine: Engine, table) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def snapshot(engine: Engine) -> dict[str, list[tuple]]:  # type: ignore[type-arg]
    """Everything a run writes, without our internal ids and ingest clock times."""
    with engine.connect() as conn:
        return {
            "sources": sorted(
                conn.execute(select(t.source_records.c.sha256, t.source_records.c.raw)).all()
            ),
            "posts": sorted(
                conn.execute(
                    select(
                        t.posts.c.platform,
                        t.posts.c.native_id,
                        t.posts.c.text,
                        t.posts.c.version_count,
                    )
                ).all()
            ),
            "versions": sorted(
                conn.execute(
                    select(
                        t.posts.c.native_id, t.post_versions.c.version_no, t.post_versions.c.text
                    ).join(t.posts)
                ).all()
            ),
            "post_observations": sorted(
                conn.execute(
                    select(t.posts.c.native_id, t.source_records.c.sha256).select_from(
                        t.post_observations.join(t.posts).join(t.source_records)
                    )
                ).all()
            ),
            "accounts": sorted(
                conn.execute(
                    select(t.accounts.c.platform, t.accounts.c.native_id, t.accounts.c.handle)
                ).all()
            ),
            "account_observations": sorted(
                conn.execute(
                    select(t.accounts.c.native_id, t.source_records.c.sha256).select_from(
                        t.account_observations.join(t.accounts).join(t.source_records)
                    )
                ).all()
            ),
        }


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        found.update(int(child) for child in (task / "children").read_text().split())
    return found


def alive(pid: int) -> bool:
    """Running, not merely a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_killed_ingest_resumes_to_the_same_rows_as_an_uninterrupted_run(
    tmp_path: Path, database_url: str
) -> None:
    source = tmp_path / "big.jsonl"
    write_input(source)
    engine = make_engine(database_url)
    migrate(engine)

    process = subprocess.Popen(
        ingest_command(source, database_url), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    try:
        while count(engine, t.source_records) < 5 * BATCH:
            assert process.poll() is None, (
                "the ingest finished before it could be killed; make the input larger"
            )
            assert time.monotonic() < deadline, "the ingest made no progress"
            time.sleep(0.02)
        workers = children(process.pid) if sys.platform == "linux" else set()
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    # The parsing workers die with the ingest: a killed run leaves no orphans behind.
    if sys.platform == "linux" and default_workers() > 1:
        assert workers, "the ingest should parse in worker processes"
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in workers)

    committed = count(engine, t.source_records)
    assert 0 < committed < LINES, "the kill must land mid-file"
    assert committed % BATCH == 0, f"{committed} records visible: a half batch was committed"
    # Every committed source record has its post observation: no half-written batch.
    assert count(engine, t.post_observations) == committed

    rerun = subprocess.run(
        ingest_command(source, database_url), capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == 0, rerun.stderr

    reference_url = f"sqlite:///{tmp_path / 'reference.db'}"
    reference = make_engine(reference_url)
    migrate(reference)
    uninterrupted = subprocess.run(
        ingest_command(source, reference_url), capture_output=True, text=True, timeout=300
    )
    assert uninterrupted.returncode == 0, uninterrupted.stderr

    assert snapshot(engine) == snapshot(reference)
    assert count(engine, t.posts) == LINES // 2
    assert count(engine, t.post_versions) == LINES
    engine.dispose()
    reference.dispose()
