"""indexes for finding what a source record carries: accounts and posts first seen in it,
and their observations in it

Evidence capture masks third parties by asking which accounts and posts one source record
(a page of results, a comment thread) carries. Without these indexes each question scanned
the accounts, posts and both observation tables, so capturing grew with the whole history
(two thirds of the programme simulator's time by its fourth year). The raw-payload retention
rule asks the same of posts and accounts.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 09:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEXES = (
    ("accounts", "ix_accounts_first_source_id", "first_source_id"),
    ("account_observations", "ix_account_observations_source_id", "source_id"),
    ("posts", "ix_posts_first_source_id", "first_source_id"),
    ("post_observations", "ix_post_observations_source_id", "source_id"),
)


def upgrade() -> None:
    for table, name, column in INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, [column], unique=False)


def downgrade() -> None:
    for table, name, _column in reversed(INDEXES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
