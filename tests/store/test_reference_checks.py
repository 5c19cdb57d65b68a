"""The writer's batches skip the database's foreign-key checks (PostgreSQL: where the role
may; SQLite: unless detection writes in the same transactions): every reference is still
whole, the rows are those an ingest with the checks gives, and a PostgreSQL role that may not
skip them ingests the same rows with them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, select, text
from sqlalchemy.exc import IntegrityError

from tests.conftest import FIXTURES, POSTGRES_URL, postgres_schema_url
from tests.store.test_crash_safety import snapshot
from tidewatch.ingest import open_input
from tidewatch.store import IngestReport, loader, make_engine, migrate
from tidewatch.store import tables as t

X_PAGES = sorted((FIXTURES / "x_twitter_v2").glob("twarc2_*.jsonl"))
#: The tables an ingest writes; each of their foreign keys must find its row.
INGEST_TABLES = (
    t.source_records,
    t.api_errors,
    t.accounts,
    t.account_observations,
    t.posts,
    t.post_versions,
    t.post_observations,
    t.media,
)


def ingest_fixtures(engine: Engine) -> list[IngestReport]:
    reports = []
    for path in X_PAGES:
        with open_input(path) as stream:
            # Workers: 1, so the test also runs where fork is missing; batches of one page.
            reports.append(
                loader.load_stream(engine, stream, input_name=path.name, workers=1, batch_size=1)
            )
    return reports


def orphans(engine: Engine) -> dict[str, int]:
    """Rows whose foreign key names no row, per (table.column)."""
    found = {}
    with engine.connect() as conn:
        for table in INGEST_TABLES:
            for key in table.foreign_keys:
                parent = key.column
                child = key.parent
                query = (
                    select(child)
                    .select_from(table.outerjoin(parent.table, child == parent))
                    .where(child.is_not(None), parent.is_(None))
                )
                found[f"{table.name}.{child.name}"] = len(conn.execute(query).all())
    return found


@pytest.mark.postgres
def test_the_postgres_role_of_the_tests_may_write_without_triggers(postgres_engine: Engine) -> None:
    # The tests connect as a superuser (CI's and this machine's PostgreSQL): the fast path.
    assert loader._may_write_without_triggers(postgres_engine)


@pytest.mark.postgres
def test_without_triggers_every_reference_is_whole_and_the_rows_are_the_same(
    postgres_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = ingest_fixtures(postgres_engine)
    assert sum(r.counts.posts_new for r in reports) > 10
    assert sum(r.counts.accounts_new for r in reports) > 5
    found = orphans(postgres_engine)
    assert len(found) >= 10  # the check covers the ingest's foreign keys
    assert set(found.values()) == {0}, found

    monkeypatch.setattr(loader, "SKIP_REFERENCE_CHECKS", False)
    for url in postgres_schema_url():
        with_triggers = make_engine(url)
        migrate(with_triggers)
        assert not loader._may_write_without_triggers(with_triggers)
        expected = ingest_fixtures(with_triggers)
        assert [r.counts for r in reports] == [r.counts for r in expected]
        assert snapshot(postgres_engine) == snapshot(with_triggers)
        with_triggers.dispose()


@pytest.mark.postgres
def test_the_orphan_check_finds_a_reference_to_no_row(postgres_engine: Engine) -> None:
    ingest_fixtures(postgres_engine)
    with postgres_engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        source_id = conn.execute(select(t.source_records.c.id).limit(1)).scalar_one()
        conn.execute(
            t.post_observations.insert().values(
                post_id=10**9,
                source_id=source_id,
                observed_at=datetime.now(UTC),
                availability="available",
            )
        )
    found = orphans(postgres_engine)
    assert found["post_observations.post_id"] == 1
    assert found["post_observations.source_id"] == 0


@pytest.mark.postgres
def test_the_setting_ends_with_each_batch(postgres_engine: Engine) -> None:
    ingest_fixtures(postgres_engine)
    with postgres_engine.connect() as conn:
        role = conn.exec_driver_sql("SHOW session_replication_role").scalar_one()
    assert role == "origin"


@pytest.fixture
def plain_role_engine(postgres_engine: Engine) -> Iterator[Engine]:
    """An engine on the same schema as ``postgres_engine``, as a role that is no superuser."""
    role = f"tw_plain_{uuid.uuid4().hex[:10]}"
    with postgres_engine.connect() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER'))
        conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
        conn.execute(text(f'GRANT ALL ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"'))
        conn.execute(text(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"'))
    engine = make_engine(
        postgres_engine.url.set(username=role).render_as_string(hide_password=False)
    )
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


@pytest.mark.postgres
def test_a_role_that_may_not_skip_triggers_ingests_with_them(
    postgres_engine: Engine, plain_role_engine: Engine
) -> None:
    assert not loader._may_write_without_triggers(plain_role_engine)
    reports = ingest_fixtures(plain_role_engine)
    assert sum(r.counts.posts_new for r in reports) > 10
    assert set(orphans(postgres_engine).values()) == {0}
    # The triggers are on for this role: a reference to no post is refused.
    with pytest.raises(IntegrityError, match="foreign key"), plain_role_engine.begin() as conn:
        conn.execute(
            t.post_observations.insert().values(
                post_id=10**9,
                source_id=10**9,
                observed_at=datetime.now(UTC),
                availability="available",
            )
        )


def sqlite_engine(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    return engine


def foreign_keys_on(conn: Connection) -> bool:
    return bool(conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one())


def test_sqlite_batches_run_without_reference_checks_and_leave_them_on_after(
    tmp_path: Path,
) -> None:
    engine = sqlite_engine(tmp_path / "tidewatch.db")
    with engine.connect() as conn:
        assert foreign_keys_on(conn)
        with loader._sqlite_bulk_settings(conn, check_references=False):
            assert not foreign_keys_on(conn)
        assert foreign_keys_on(conn)
        with loader._sqlite_bulk_settings(conn, check_references=True):
            assert foreign_keys_on(conn)
    engine.dispose()


def test_sqlite_without_reference_checks_every_reference_is_whole_and_the_rows_are_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = sqlite_engine(tmp_path / "fast.db")
    reports = ingest_fixtures(engine)
    assert sum(r.counts.posts_new for r in reports) > 10
    found = orphans(engine)
    assert len(found) >= 10
    assert set(found.values()) == {0}, found
    with engine.connect() as conn:
        assert foreign_keys_on(conn)  # the pooled connection has them back
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []

    monkeypatch.setattr(loader, "SKIP_REFERENCE_CHECKS", False)
    checked = sqlite_engine(tmp_path / "checked.db")
    expected = ingest_fixtures(checked)
    assert [r.counts for r in reports] == [r.counts for r in expected]
    assert snapshot(engine) == snapshot(checked)
    engine.dispose()
    checked.dispose()
