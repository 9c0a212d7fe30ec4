"""The search index: Chroma stores in generation folders (or on a Chroma server), and an atomically replaced manifest naming the live one."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from filelock import FileLock, Timeout

from core.types import Chunk, RetrievedChunk

MANIFEST_FILE = "manifest.json"
COLLECTION_NAME = "course"
GENERATION_PREFIX = "gen-"
# Bump when chunking or embedded text changes, so every index built before is rebuilt.
CHUNKER_VERSION = 1


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


def _rebuild_hint(db_dir: Path, problem: str) -> IndexUnusableError:
    return IndexUnusableError(
        f"The course index in {db_dir} is damaged ({problem}). Run `course-guide ingest --db {db_dir}` to rebuild it."
    )


@dataclass
class FileEntry:
    sha256: str
    title: str
    chunks: int


@dataclass
class FailedFile:
    """A file the last ingest could not read; remembered so an unchanged bad file does not force a rebuild."""

    sha256: str
    reason: str


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
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        data["files"] = {k: FileEntry(**v) for k, v in data["files"].items()}
        data["failed"] = {k: FailedFile(**v) for k, v in data.get("failed", {}).items()}
        return cls(**data)


def read_manifest(db_dir: Path) -> Manifest | None:
    """The live manifest, None if there is no index, IndexUnusableError if it cannot be read."""
    path = Path(db_dir) / MANIFEST_FILE
    if not path.exists():
        return None
    try:
        manifest = Manifest.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise _rebuild_hint(db_dir, f"unreadable {MANIFEST_FILE}: {err}") from None
    if not (Path(db_dir) / manifest.generation).is_dir():
        raise _rebuild_hint(db_dir, f"its data folder {manifest.generation} is missing")
    return manifest


def publish_manifest(db_dir: Path, manifest: Manifest) -> None:
    """Switch readers to the manifest's generation in one atomic rename."""
    fd, tmp = tempfile.mkstemp(dir=db_dir, prefix=".manifest-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(manifest.to_json())
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, Path(db_dir) / MANIFEST_FILE)


def new_generation_name() -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{GENERATION_PREFIX}{stamp}-{uuid.uuid4().hex[:6]}"


def prune_generations(db_dir: Path, keep: set[str]) -> None:
    """Delete generation folders not in `keep` (left by earlier ingests, or by ones that failed midway)."""
    for path in Path(db_dir).glob(f"{GENERATION_PREFIX}*"):
        if path.is_dir() and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def open_collection(generation_dir: Path, create: bool = False):
    """The Chroma collection of one generation. Embeddings are always ours: Chroma's default would download a model."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(
        path=str(generation_dir), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    )
    if create:
        return client.create_collection(
            COLLECTION_NAME, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
    return client.get_collection(COLLECTION_NAME, embedding_function=None)


class Store(Protocol):
    """Where generations and the live manifest are kept: an index folder, or a shared Chroma server."""

    def read_manifest(self) -> Manifest | None: ...
    def publish_manifest(self, manifest: Manifest) -> None: ...
    def open_collection(self, generation: str, create: bool = False): ...
    def prune(self, keep: set[str]) -> None: ...
    def ingest_lock(self) -> AbstractContextManager: ...
    def missing_error(self) -> IndexMissingError: ...
    def damaged_error(self, problem: str) -> IndexUnusableError: ...
    def describe(self) -> str: ...


@dataclass(frozen=True)
class LocalStore:
    """The index folder: one Chroma folder per generation, and manifest.json naming the live one."""

    db_dir: Path

    def read_manifest(self) -> Manifest | None:
        return read_manifest(self.db_dir)

    def publish_manifest(self, manifest: Manifest) -> None:
        publish_manifest(self.db_dir, manifest)

    def open_collection(self, generation: str, create: bool = False):
        return open_collection(self.db_dir / generation, create=create)

    def prune(self, keep: set[str]) -> None:
        prune_generations(self.db_dir, keep)

    @contextmanager
    def ingest_lock(self) -> Iterator[None]:
        try:
            self.db_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise IndexUnusableError(f"Cannot use {self.db_dir} as the index folder ({err.strerror}); pass --db with a folder path.") from None
        try:
            with FileLock(self.db_dir / ".ingest.lock", timeout=0):
                yield
        except Timeout:
            raise IndexBusyError(f"Another ingest is writing {self.db_dir}; wait for it to finish, then run again.") from None

    def missing_error(self) -> IndexMissingError:
        return IndexMissingError(self.db_dir)

    def damaged_error(self, problem: str) -> IndexUnusableError:
        return _rebuild_hint(self.db_dir, problem)

    def describe(self) -> str:
        return f"folder {self.db_dir}"


def open_store(settings) -> Store:
    """The store the settings name: a Chroma server when chroma_host is set, else the index folder."""
    if settings.chroma_host:
        from core.chroma_store import ChromaServerStore

        return ChromaServerStore(settings.chroma_host, settings.chroma_port)
    return LocalStore(Path(settings.db_dir))


class IndexReader:
    """Read access for answering. It follows the manifest, so a finished ingest is picked up on the next question."""

    def __init__(self, location: Path | str | Store):
        self.store: Store = LocalStore(Path(location)) if isinstance(location, (str, os.PathLike)) else location
        self.db_dir = getattr(self.store, "db_dir", None)
        self.manifest: Manifest | None = None
        self._collection = None
        self._chunks: list[Chunk] | None = None
        # The chat answers in worker threads; opening a generation twice at once upsets Chroma's client cache.
        self._lock = threading.RLock()

    def refresh(self) -> Manifest:
        """Reopen if an ingest published a new generation; IndexMissingError if there is none."""
        manifest = self.store.read_manifest()
        if manifest is None:
            raise self.store.missing_error()
        with self._lock:
            if self.manifest is None or manifest.generation != self.manifest.generation:
                from chromadb.errors import ChromaError

                try:
                    self._collection = self.store.open_collection(manifest.generation)
                except (ChromaError, ValueError) as err:
                    raise self.store.damaged_error(f"{type(err).__name__}: {err}") from None
                self._chunks = None
                self.manifest = manifest
        return manifest

    @property
    def collection(self):
        if self._collection is None:
            self.refresh()
        return self._collection

    def count(self) -> int:
        return self.collection.count()

    def chunks(self) -> list[Chunk]:
        """Every chunk, in corpus order; cached per generation."""
        self.refresh()
        with self._lock:
            if self._chunks is None:
                got = self.collection.get(include=["documents", "metadatas"])
                chunks = [Chunk.from_store(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]
                self._chunks = sorted(chunks, key=lambda c: (c.source, c.ordinal))
            return self._chunks

    def search(self, query_embedding: np.ndarray, k: int) -> list[RetrievedChunk]:
        """Nearest chunks by cosine similarity, best first."""
        # The manifest's count, not collection.count(): that is a store round trip (~3 ms) on every question.
        k = min(k, self.refresh().chunk_count)
        if k == 0:
            return []
        got = self.collection.query(
            query_embeddings=[np.asarray(query_embedding, dtype=np.float32)],
            n_results=k,
            include=["documents", "metadatas", "distances"],
        )
        return [
            RetrievedChunk(Chunk.from_store(i, d, m), score=1.0 - float(dist))
            for i, d, m, dist in zip(got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0])
        ]

    def embeddings(self, ids: list[str]) -> dict[str, np.ndarray]:
        """Stored unit-length vectors of the given chunks, by id (for MMR and exact rescoring)."""
        if not ids:
            return {}
        got = self.collection.get(ids=ids, include=["embeddings"])
        return {i: np.asarray(v, dtype=np.float32) for i, v in zip(got["ids"], got["embeddings"])}
