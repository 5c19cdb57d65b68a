"""indexes for looking up evidence by subject, review items and referral items by post

Without them approving a referral (the evidence gate) scanned every artifact, drafting one
scanned every review item, and the report built a temporary index of referral items: all
grew with the whole history.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 07:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.create_index("ix_artifacts_subject", ["subject"], unique=False)
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.create_index("ix_review_items_post_id", ["post_id"], unique=False)
    with op.batch_alter_table("referral_items", schema=None) as batch_op:
        batch_op.create_index("ix_referral_items_post_id", ["post_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("referral_items", schema=None) as batch_op:
        batch_op.drop_index("ix_referral_items_post_id")
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.drop_index("ix_review_items_post_id")
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.drop_index("ix_artifacts_subject")
