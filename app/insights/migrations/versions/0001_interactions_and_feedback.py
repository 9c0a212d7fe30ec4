"""The first schema: interactions and feedback."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "interactions",
        sa.Column("answer_id", sa.String(36), primary_key=True),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("course", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("lesson", sa.String(200), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("standalone", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("refused", sa.Boolean(), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=True),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("nearest", sa.JSON(), nullable=False),
        sa.Column("answerer", sa.String(32), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("learner", sa.String(64), nullable=True),
    )
    op.create_index("ix_interactions_asked_at", "interactions", ["asked_at"])
    op.create_index("ix_interactions_learner", "interactions", ["learner"])
    op.create_index("ix_interactions_refused_asked_at", "interactions", ["refused", "asked_at"])
    op.create_table(
        "feedback",
        sa.Column("answer_id", sa.String(36), sa.ForeignKey("interactions.answer_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_index("ix_interactions_refused_asked_at", "interactions")
    op.drop_index("ix_interactions_learner", "interactions")
    op.drop_index("ix_interactions_asked_at", "interactions")
    op.drop_table("interactions")
