"""What every index store shares: the manifest naming the live generation, the Store protocol, and the errors a reader or ingest can meet."""
from __future__ import annotations

import json
import uuid
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

COLLECTION_NAME = "course"
GENERATION_PREFIX = "gen-"
# Bump when chunking or embedded text changes, so every index built before is rebuilt.
CHUNKER_VERSION = 2  # 2: chunks carry a location label (cell, slide, time) and their own URL


class IndexUnusableError(RuntimeError):
    """The index cannot be read; the message says how to rebuild it."""


class IndexMissingError(IndexUnusableError):
    """No index has been built in the given folder (or Chroma server) yet."""

    def __init__(self, db_dir: Path | None, message: str | None = None):
        super().__init__(
            message or f"No course index in {db_dir}. Run `course-guide ingest --corpus YOUR_COURSE_FOLDER --db {db_dir}` first."
        )


class IndexBusyError(IndexUnusableError):
    """Another ingest is writing the index."""




@dataclass
class FileEntry:
    sha256: str
    title: str
    chunks: int
    order: int | None = None  # from the lesson's front matter: its place in the contents page


@dataclass
class FailedFile:
    """A file the last ingest could not read; remembered so an unchanged bad file does not force a rebuild."""

    sha256: str
    reason: str
    limits: dict[str, int] | None = None  # for a file over a size limit: the limits then, so raising them retries it


@dataclass
class Manifest:
    """What the live generation holds; written last, so a reader never sees a half-built index."""

    generation: str
    config: dict[str, Any]
    files: dict[str, FileEntry]
    chunk_count: int
    corpus_dir: str
    failed: dict[str, FailedFile] = field(default_factory=dict)
    quiz_items: list[dict[str, Any]] = field(default_factory=list)  # valid instructor items, as QuizItem.to_dict()
    previous: str | None = None  # the generation this one replaced, kept until the next publish for readers still on it
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        data["files"] = {k: FileEntry(**v) for k, v in data["files"].items()}
        data["failed"] = {k: FailedFile(**v) for k, v in data.get("failed", {}).items()}
        return cls(**data)




# Chroma reads a whole collection in one SQLite statement with a variable per record, and SQLite allows 32,766: a
# course of ~33k chunks or more fails with "too many SQL variables". Reading in pages keeps every course readable.
READ_PAGE = 5000


def get_every_record(collection: Any, include: list[str], page: int = READ_PAGE, where: dict | None = None) -> dict[str, list]:
    """Every record of a Chroma collection (ids plus the `include` fields), or every one matching `where`, read `page`
    records at a time."""
    every: dict[str, list] = {"ids": [], **{name: [] for name in include}}
    offset = 0
    while True:
        got = collection.get(include=include, limit=page, offset=offset, where=where)
        for name in every:
            values = got[name]
            every[name].extend(values if values is not None else [])
        if len(got["ids"]) < page:
            return every
        offset += page


def new_generation_name() -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{GENERATION_PREFIX}{stamp}-{uuid.uuid4().hex[:6]}"




class Store(Protocol):
    """Where generations and the live manifest are kept: an index folder, or a shared Chroma server."""

    def read_manifest(self) -> Manifest | None: ...
    def publish_manifest(self, manifest: Manifest) -> None: ...
    def open_collection(self, generation: str, create: bool = False): ...
    def close_collection(self, collection) -> None: ...
    def prune(self, keep: set[str]) -> None: ...
    def ingest_lock(self) -> AbstractContextManager: ...
    def remove_all(self) -> None: ...
    def missing_error(self) -> IndexMissingError: ...
    def damaged_error(self, problem: str) -> IndexUnusableError: ...
    def describe(self) -> str: ...


