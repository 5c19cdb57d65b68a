"""Migrations that rewrite existing rows do it right, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from tests.store.test_writer import bundle, post
from tidewatch.store import load, make_engine, migrate
from tidewatch.store import tables as t


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


def test_0011_compresses_raw_payloads_with_lz4_on_postgresql(engine: Engine) -> None:
    raw = b'{"data": [' + b'{"id": "1", "text": "boat"},' * 500 + b"]}"
    load(engine, [bundle(raw, [post("p1", "boat")])], input_name="page.json")
    with engine.connect() as conn:
        assert conn.execute(select(t.source_records.c.raw)).scalar_one() == raw
        if engine.dialect.name != "postgresql":
            return
        methods = conn.execute(
            text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
        ).scalar_one()
        if "lz4" not in methods:
            pytest.skip("this PostgreSQL server was built without LZ4; 0011 leaves pglz")
        method = conn.execute(
            text("SELECT pg_column_compression(raw) FROM source_records")
        ).scalar_one()
    assert method == "lz4"


def test_a_new_sqlite_database_has_16_kib_pages(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    migrate(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar_one() == 16384
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
    engine.dispose()
