"""Disputed gradings: a learner who thinks a reply was graded wrongly says so, with an optional comment, on the attempt."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quiz_attempts") as batch:
        batch.add_column(sa.Column("disputed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("dispute_comment", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("quiz_attempts") as batch:
        batch.drop_column("dispute_comment")
        batch.drop_column("disputed_at")
