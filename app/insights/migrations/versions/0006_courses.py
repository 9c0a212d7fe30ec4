"""Many courses in one deployment: the course registry, and the course every learner record belongs to ("" is the default course)."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The tables whose rows belong to one course; rows written before this migration belong to the default course.
COURSE_TABLES = ("interactions", "quiz_sessions", "quiz_attempts")


def _review_cards_table(name: str, *, with_course: bool) -> None:
    """The review_cards table under a new name, keyed by learner, (course,) item."""
    course = [sa.Column("course_id", sa.String(40), primary_key=True, server_default="")] if with_course else []
    op.create_table(
        name,
        sa.Column("learner", sa.String(64), primary_key=True),
        *course,
        sa.Column("item_id", sa.String(200), primary_key=True),
        sa.Column("lesson", sa.String(200), nullable=False),
        sa.Column("card", sa.JSON(), nullable=False),
        sa.Column("due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviews", sa.Integer(), nullable=False),
    )


def upgrade() -> None:
    op.create_table(
        "courses",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("corpus_dir", sa.Text(), nullable=False),
        sa.Column("allowed_origins", sa.JSON(), nullable=False),
        sa.Column("instructor_token_sha256", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    for table in COURSE_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("course_id", sa.String(40), nullable=False, server_default=""))
        op.create_index(f"ix_{table}_course_id", table, ["course_id"])
    # A review card is one learner's card for one item of one course: two courses may hold the same item id (the same
    # lesson file in both), so the key gains the course. Both databases: a new table, the rows copied, the old dropped.
    _review_cards_table("review_cards_by_course", with_course=True)
    op.execute("INSERT INTO review_cards_by_course (learner, course_id, item_id, lesson, card, due, reviews) "
               "SELECT learner, '', item_id, lesson, card, due, reviews FROM review_cards")
    op.drop_index("ix_review_cards_learner_due", table_name="review_cards")
    op.drop_table("review_cards")
    op.rename_table("review_cards_by_course", "review_cards")
    op.create_index("ix_review_cards_learner_due", "review_cards", ["learner", "due"])


def downgrade() -> None:
    # Going back to one course keeps only the default course's records.
    _review_cards_table("review_cards_one_course", with_course=False)
    op.execute("INSERT INTO review_cards_one_course (learner, item_id, lesson, card, due, reviews) "
               "SELECT learner, item_id, lesson, card, due, reviews FROM review_cards WHERE course_id = ''")
    op.drop_index("ix_review_cards_learner_due", table_name="review_cards")
    op.drop_table("review_cards")
    op.rename_table("review_cards_one_course", "review_cards")
    op.create_index("ix_review_cards_learner_due", "review_cards", ["learner", "due"])
    op.execute("DELETE FROM feedback WHERE answer_id IN (SELECT answer_id FROM interactions WHERE course_id <> '')")
    for table in reversed(COURSE_TABLES):
        op.execute(f"DELETE FROM {table} WHERE course_id <> ''")  # noqa: S608 - fixed table names
        op.drop_index(f"ix_{table}_course_id", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("course_id")
    op.drop_table("courses")
