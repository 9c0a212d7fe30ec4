"""Core of Course Guide: the types, settings and shared parts that app/, ingest/ and eval/ import."""
