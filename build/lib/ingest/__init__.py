"""Ingest: load course files, chunk them, embed them and publish a new index generation."""
