"""source_records.raw compressed with LZ4 on PostgreSQL

Raw payloads are the bulk of what an ingest writes (an X API page is about 110 KB of JSON
for 100 posts), and PostgreSQL compresses every value over 2 KB before storing it. Its
default compressor, pglz, cost the server more CPU than anything else an ingest asked of it,
on the same cores as the parsing workers. LZ4 (PostgreSQL 14 and later, when built with it,
as Debian's and the official images are) compresses several times faster. Only values
written from now on are compressed with it; existing ones stay as they are, and both read
back the same bytes. SQLite stores the value as it is: nothing to do there.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 21:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _lz4_available() -> bool:
    bind = op.get_bind()
    version = bind.dialect.server_version_info
    if bind.dialect.name != "postgresql" or version is None or version < (14,):
        return False
    # A server built without LZ4 refuses the setting; ask it rather than fail the migration.
    options = bind.exec_driver_sql(
        "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"
    ).scalar()
    return options is not None and "lz4" in options


def upgrade() -> None:
    if _lz4_available():
        op.execute("ALTER TABLE source_records ALTER COLUMN raw SET COMPRESSION lz4")


def downgrade() -> None:
    if _lz4_available():
        op.execute("ALTER TABLE source_records ALTER COLUMN raw SET COMPRESSION pglz")
