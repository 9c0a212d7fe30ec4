"""Alembic revisions of the interaction store, oldest first."""
