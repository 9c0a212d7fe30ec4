"""Quiz attempts per presentation: an item brought back later in the same quiz is a second attempt, stored too."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite cannot alter a constraint in place; batch mode copies the table, PostgreSQL alters it.
    with op.batch_alter_table("quiz_attempts") as batch:
        batch.add_column(sa.Column("presentation", sa.Integer(), nullable=False, server_default="0"))
        batch.drop_constraint("uq_quiz_attempts_session_item", type_="unique")
        batch.create_unique_constraint("uq_quiz_attempts_session_item_presentation", ["session_id", "item_id", "presentation"])


def downgrade() -> None:
    op.execute("DELETE FROM quiz_attempts WHERE presentation > 0")
    with op.batch_alter_table("quiz_attempts") as batch:
        batch.drop_constraint("uq_quiz_attempts_session_item_presentation", type_="unique")
        batch.drop_column("presentation")
        batch.create_unique_constraint("uq_quiz_attempts_session_item", ["session_id", "item_id"])
