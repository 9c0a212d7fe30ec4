"""Learner progress: the quiz sessions the server started, graded quiz attempts, and one FSRS card per (learner, item)."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quiz_sessions",
        sa.Column("session_id", sa.String(36), primary_key=True),
        sa.Column("learner", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_quiz_sessions_learner", "quiz_sessions", ["learner"])
    op.create_table(
        "quiz_attempts",
        sa.Column("attempt_id", sa.String(36), primary_key=True),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("learner", sa.String(64), nullable=False),
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("lesson", sa.String(200), nullable=False),
        sa.Column("section", sa.Text(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("session_id", "item_id", name="uq_quiz_attempts_session_item"),
    )
    op.create_index("ix_quiz_attempts_learner_answered_at", "quiz_attempts", ["learner", "answered_at"])
    op.create_index("ix_quiz_attempts_lesson", "quiz_attempts", ["lesson"])
    op.create_table(
        "review_cards",
        sa.Column("learner", sa.String(64), primary_key=True),
        sa.Column("item_id", sa.String(200), primary_key=True),
        sa.Column("lesson", sa.String(200), nullable=False),
        sa.Column("card", sa.JSON(), nullable=False),
        sa.Column("due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviews", sa.Integer(), nullable=False),
    )
    op.create_index("ix_review_cards_learner_due", "review_cards", ["learner", "due"])


def downgrade() -> None:
    op.drop_index("ix_review_cards_learner_due", "review_cards")
    op.drop_table("review_cards")
    op.drop_index("ix_quiz_attempts_lesson", "quiz_attempts")
    op.drop_index("ix_quiz_attempts_learner_answered_at", "quiz_attempts")
    op.drop_table("quiz_attempts")
    op.drop_index("ix_quiz_sessions_learner", "quiz_sessions")
    op.drop_table("quiz_sessions")
