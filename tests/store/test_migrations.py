"""Migrations that rewrite existing rows do it right, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import zstandard
from alembic import command
from sqlalchemy import Engine, select, text

from tests.conftest import postgres_schema_url
from tests.store.test_writer import bundle, post
from tidewatch.store import load, make_engine, migrate
from tidewatch.store import tables as t
from tidewatch.store.db import alembic_config
from tidewatch.store.payloads import FRAME_MAGIC


def migrate_down(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


@pytest.fixture
def engine_at_0009(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate(engine, "0009")
    yield engine
    engine.dispose()


def test_0010_copies_the_place_and_selector_reasons_of_existing_detections(
    engine_at_0009: Engine,
) -> None:
    reasons = [
        {"signal": "lexicon_crossing", "evidence": "boat", "start": 0, "end": 4, "weight": 1.2},
        {
            "signal": "phone_number",
            "evidence": "+218 91 234 5678",
            "start": 5,
            "end": 21,
            "weight": 1.1,
        },
        {"signal": "place_departure", "evidence": "Zuwara", "start": 22, "end": 28, "weight": 0.6},
        {"signal": "price", "evidence": "2500 euro", "start": 29, "end": 38, "weight": -0.3},
    ]
    load(engine_at_0009, [bundle(b"page", [post("p1", "boat")])], input_name="page.json")
    now = datetime(2026, 1, 2, tzinfo=UTC).replace(tzinfo=None).isoformat(sep=" ")
    with engine_at_0009.begin() as conn:
        post_id = conn.execute(select(t.posts.c.id)).scalar_one()
        for number, stored in enumerate((reasons, [])):
            conn.execute(
                text(
                    "INSERT INTO detections (post_id, text_sha256, model_version, score, label,"
                    " lang, categories, reasons, detected_at)"
                    " VALUES (:post, :sha, 'm', 0.9, 'advert', 'en', '[]', :reasons, :now)"
                ),
                {"post": post_id, "sha": f"h{number}", "reasons": json.dumps(stored), "now": now},
            )

    migrate(engine_at_0009)

    with engine_at_0009.connect() as conn:
        stored = (
            conn.execute(select(t.detections.c.entity_reasons).order_by(t.detections.c.id))
            .scalars()
            .all()
        )
    assert [[r["signal"] for r in row] for row in stored] == [
        ["phone_number", "place_departure"],
        [],
    ]
    assert stored[0][0]["evidence"] == "+218 91 234 5678"


def _insert_source(engine: Engine, sha: str, raw: bytes) -> None:
    """A source record as code before 0012 stored it: the payload as it is."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO source_records (sha256, format, collector, origin, ingested_at, raw)"
                " VALUES (:sha, 'test', '', '', :now, :raw)"
            ),
            {"sha": sha, "now": datetime(2026, 1, 2, tzinfo=UTC), "raw": raw},
        )


def _stored(engine: Engine) -> dict[str, bytes]:
    """sha256 -> the bytes the database holds, past the column's type."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT sha256, raw FROM source_records")).all()
    return {sha: bytes(raw) for sha, raw in rows}


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from postgres_schema_url()


@pytest.mark.postgres
def test_0011_then_0012_on_postgresql(postgres_url: str) -> None:
    """0011 had the server compress payloads with LZ4; 0012 has Tidewatch pack them, and
    the server stores the frames as they are. Payloads from before read back unchanged."""
    engine = make_engine(postgres_url)
    migrate(engine, "0011")
    old = b'{"data": [' + b'{"id": "1", "text": "boat"},' * 500 + b"]}"
    _insert_source(engine, "old", old)
    with engine.connect() as conn:
        lz4 = (
            "lz4"
            in conn.execute(
                text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
            ).scalar_one()
        )
        compression = conn.execute(
            text("SELECT pg_column_compression(raw) FROM source_records")
        ).scalar_one()
    assert compression == ("lz4" if lz4 else "pglz")

    migrate(engine)
    new = old.replace(b"boat", b"trip")
    load(engine, [bundle(new, [post("p1", "trip")])], input_name="page.json")
    with engine.connect() as conn:
        by_sha = {
            sha: raw
            for sha, raw in conn.execute(select(t.source_records.c.sha256, t.source_records.c.raw))
        }
        methods = {
            sha: method
            for sha, method in conn.execute(
                text("SELECT sha256, pg_column_compression(raw) FROM source_records")
            )
        }
    engine.dispose()
    assert by_sha["old"] == old
    assert by_sha[hashlib.sha256(new).hexdigest()] == new
    assert methods[hashlib.sha256(new).hexdigest()] is None  # stored as Tidewatch packed it


def test_0012_packs_stored_payloads_that_would_read_as_frames(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine, "0011")
    payloads = {
        "plain": b'{"id": "1", "text": "boat"}',
        "magic": FRAME_MAGIC + b"not a frame, a payload that begins like one",
        "purged": b"",
    }
    for sha, raw in payloads.items():
        _insert_source(engine, sha, raw)

    migrate(engine)

    stored = _stored(engine)
    with engine.connect() as conn:
        read = {
            sha: raw
            for sha, raw in conn.execute(select(t.source_records.c.sha256, t.source_records.c.raw))
        }
    engine.dispose()
    assert read == payloads
    assert stored["plain"] == payloads["plain"]  # left as it was
    assert stored["magic"] != payloads["magic"]
    assert zstandard.decompress(stored["magic"]) == payloads["magic"]


def test_0012_downgrade_unpacks_every_frame(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    pages = [b'{"data": [' + b'{"id": "%d", "text": "boat"},' % n * 300 + b"]}" for n in range(3)]
    load(
        engine,
        [bundle(page, [post(f"p{n}", "boat")]) for n, page in enumerate(pages)],
        input_name="f",
    )
    assert all(raw.startswith(FRAME_MAGIC) for raw in _stored(engine).values())

    migrate_down(engine, "0011")

    assert sorted(_stored(engine).values()) == sorted(pages)
    engine.dispose()


def test_a_new_sqlite_database_has_16_kib_pages(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    migrate(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar_one() == 16384
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
    engine.dispose()
