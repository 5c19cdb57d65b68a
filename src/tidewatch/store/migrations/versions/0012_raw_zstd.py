"""source_records.raw packed by Tidewatch as Zstandard frames (tidewatch.store.payloads)

From now on the ingest's workers compress each raw payload before it is written, where that
makes it smaller, and everything reading it through the table unpacks it: a stored value that
begins with Zstandard's frame magic is a frame, any other value is the payload as it is.

Existing rows stay as they are, and read back the same, except the rare stored payload that
itself begins with the magic: it would read as a frame, so it is packed here. On PostgreSQL
the column stops being compressed by the server (storage EXTERNAL), which would only spend
CPU trying to shrink frames; values already compressed there stay readable as they are.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
import zstandard
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

#: As tidewatch.store.payloads on the day of this migration (a migration does not follow
#: later changes of the code).
FRAME_MAGIC = b"\x28\xb5\x2f\xfd"
LEVEL = 3

_sources = sa.table(
    "source_records", sa.column("id", sa.Integer()), sa.column("raw", sa.LargeBinary())
)


def _beginning_with_magic() -> sa.Select[int, bytes]:
    return sa.select(_sources.c.id, _sources.c.raw).where(
        sa.func.substr(_sources.c.raw, 1, len(FRAME_MAGIC)) == FRAME_MAGIC
    )


def upgrade() -> None:
    conn = op.get_bind()
    for source_id, raw in conn.execute(_beginning_with_magic()).all():
        conn.execute(
            sa.update(_sources)
            .where(_sources.c.id == source_id)
            .values(raw=zstandard.compress(bytes(raw), LEVEL))
        )
    if conn.dialect.name == "postgresql":
        op.execute("ALTER TABLE source_records ALTER COLUMN raw SET STORAGE EXTERNAL")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        op.execute("ALTER TABLE source_records ALTER COLUMN raw SET STORAGE EXTENDED")
    # Every frame back to its payload, so code before this revision reads the bytes it wrote.
    last = 0
    while True:
        rows = conn.execute(
            _beginning_with_magic().where(_sources.c.id > last).order_by(_sources.c.id).limit(500)
        ).all()
        if not rows:
            return
        for source_id, raw in rows:
            conn.execute(
                sa.update(_sources)
                .where(_sources.c.id == source_id)
                .values(raw=zstandard.decompress(bytes(raw)))
            )
        last = rows[-1][0]
