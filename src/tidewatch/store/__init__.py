"""Storage: SQLAlchemy 2 tables, Alembic migrations, idempotent batched ingest."""

from tidewatch.store.db import make_engine, migrate
from tidewatch.store.loader import IngestReport, load

__all__ = ["IngestReport", "load", "make_engine", "migrate"]
