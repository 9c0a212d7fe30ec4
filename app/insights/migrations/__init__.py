"""Alembic migrations of the interaction store, shipped with the package and run when the store opens."""
