"""detections keep the reasons that name places and selectors apart: entity_reasons

The transparency report reads the places (for routes) and contact selectors (for
re-emergence) of every referred post's latest detection. Parsing all of each detection's
reasons to find those few was over half of the report's time on a five-year history
(129,358 detections, a kilobyte of reasons each). Existing detections are filled in here.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 12:30:00
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

#: As tidewatch.model.ENTITY_SIGNALS on the day of this migration (a migration does not
#: follow later changes of the code).
ENTITY_SIGNALS = frozenset(
    {
        "phone_number",
        "messenger_link",
        "url",
        "handle",
        "email",
        "place_departure",
        "place_transit",
        "place_destination",
    }
)
BATCH = 5_000


def upgrade() -> None:
    with op.batch_alter_table("detections", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("entity_reasons", sa.JSON(), nullable=False, server_default="[]")
        )
    detections = sa.table(
        "detections",
        sa.column("id", sa.Integer()),
        sa.column("reasons", sa.JSON()),
        sa.column("entity_reasons", sa.JSON()),
    )
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(
            sa.select(detections.c.id, detections.c.reasons)
            .where(detections.c.id > last)
            .order_by(detections.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        last = rows[-1].id
        updates = [
            {"row_id": row.id, "kept": kept}
            for row in rows
            if (kept := _entity_reasons(row.reasons))
        ]
        if updates:
            conn.execute(
                detections.update()
                .where(detections.c.id == sa.bindparam("row_id"))
                .values(entity_reasons=sa.bindparam("kept", type_=sa.JSON())),
                updates,
            )


def _entity_reasons(reasons: Any) -> list[dict[str, Any]]:
    if isinstance(reasons, str):
        reasons = json.loads(reasons)
    return [
        reason
        for reason in reasons or ()
        if isinstance(reason, dict) and reason.get("signal") in ENTITY_SIGNALS
    ]


def downgrade() -> None:
    with op.batch_alter_table("detections", schema=None) as batch_op:
        batch_op.drop_column("entity_reasons")
