"""LTI 1.3: platform registrations, the tool's signing keys, OIDC login states (single-use nonces) and the grade outbox."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lti_platforms",
        sa.Column("issuer", sa.String(400), primary_key=True),
        sa.Column("client_id", sa.String(200), primary_key=True),
        sa.Column("deployment_ids", sa.JSON(), nullable=False),
        sa.Column("auth_login_url", sa.Text(), nullable=False),
        sa.Column("token_url", sa.Text(), nullable=False),
        sa.Column("jwks_url", sa.Text(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "lti_tool_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("private_pem", sa.Text(), nullable=False),
        sa.Column("learner_secret", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "lti_login_states",
        sa.Column("state", sa.String(64), primary_key=True),
        sa.Column("nonce", sa.String(64), nullable=False, unique=True),
        sa.Column("issuer", sa.String(400), nullable=False),
        sa.Column("client_id", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_lti_login_states_created_at", "lti_login_states", ["created_at"])
    op.create_table(
        "lti_grades",
        sa.Column("grade_id", sa.String(36), primary_key=True),
        sa.Column("launch_id", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("issuer", sa.String(400), nullable=False),
        sa.Column("client_id", sa.String(200), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("learner", sa.String(64), nullable=False),
        sa.Column("lineitem", sa.Text(), nullable=True),
        sa.Column("lineitems", sa.Text(), nullable=True),
        sa.Column("resource_link_id", sa.String(255), nullable=True),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("score_given", sa.Float(), nullable=False),
        sa.Column("score_maximum", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.UniqueConstraint("launch_id", "session_id", name="uq_lti_grades_launch_session"),
    )
    op.create_index("ix_lti_grades_pending", "lti_grades", ["sent_at", "next_try_at"])


def downgrade() -> None:
    op.drop_index("ix_lti_grades_pending", "lti_grades")
    op.drop_table("lti_grades")
    op.drop_index("ix_lti_login_states_created_at", "lti_login_states")
    op.drop_table("lti_login_states")
    op.drop_table("lti_tool_keys")
    op.drop_table("lti_platforms")
