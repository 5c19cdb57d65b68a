"""Shared fixtures. Storage tests run on SQLite and on PostgreSQL.

PostgreSQL: ``TIDEWATCH_TEST_POSTGRES_URL`` (default: the local server at 127.0.0.1:5432,
user postgres, database test). Each test gets its own schema, so tests (and xdist workers)
never see each other's rows. If the server is unreachable the PostgreSQL half is skipped,
unless ``TIDEWATCH_REQUIRE_POSTGRES=1`` (set by CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from tidewatch.store import make_engine, migrate

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
POSTGRES_URL = os.environ.get(
    "TIDEWATCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("TIDEWATCH_REQUIRE_POSTGRES") == "1"


def pytest_configure(config: pytest.Config) -> None:
    # Evidence is signed with the unit key (var/keys/ by default); tests sign with a key of
    # their own, never the working copy's.
    if "TIDEWATCH_EVIDENCE_KEY" not in os.environ:
        import tempfile

        folder = tempfile.mkdtemp(prefix="tidewatch-test-keys-")
        os.environ["TIDEWATCH_EVIDENCE_KEY"] = str(Path(folder) / "unit-ed25519.pem")


def _postgres_reachable() -> bool:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


_POSTGRES_OK: bool | None = None


def postgres_available() -> bool:
    global _POSTGRES_OK
    if _POSTGRES_OK is None:
        _POSTGRES_OK = _postgres_reachable()
    return _POSTGRES_OK


def skip_or_fail_without_postgres() -> None:
    if postgres_available():
        return
    if REQUIRE_POSTGRES:
        pytest.fail(
            f"PostgreSQL required (TIDEWATCH_REQUIRE_POSTGRES=1) but {POSTGRES_URL} is unreachable"
        )
    pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")


def postgres_schema_url() -> Iterator[str]:
    """A URL whose connections use a fresh schema; the schema is dropped afterwards."""
    skip_or_fail_without_postgres()
    schema = f"tw_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tidewatch.db'}"
        return
    yield from postgres_schema_url()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    """A migrated, empty PostgreSQL database, for what only PostgreSQL does."""
    for url in postgres_schema_url():
        engine = make_engine(url)
        migrate(engine)
        yield engine
        engine.dispose()
