"""Alembic's environment for the interaction store: migrates the connection the store hands over, never one of its own."""
from __future__ import annotations

from alembic import context
from sqlalchemy import text

from app.insights.models import Base

# Two replicas opening one PostgreSQL store at once take turns; the number is any constant of ours.
_MIGRATION_LOCK = 7_301_313


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        context.run_migrations()


run_migrations_online()
