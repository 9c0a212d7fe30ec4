"""The one error a course file raises when it cannot be ingested, shared by every format's reader."""
from __future__ import annotations


class BadFileError(Exception):
    """A course file that cannot be ingested; the message says why and what to do."""
