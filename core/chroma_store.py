"""The index on a shared Chroma server (`chroma run`): one collection per generation, and the live manifest in the server, switched last."""
from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.store import IndexBusyError, IndexMissingError, IndexUnusableError, Manifest

# Every name of the default course starts with "course-": generation "gen-…" lives in collection "course-gen-…".
# A registered course NAME's start with "course.NAME." instead (a dot: no default-course name ever matches it).
COLLECTION_PREFIX = "course-"
MANIFEST_ID = "live"


def collection_prefix(course: str | None) -> str:
    """What every collection name of `course` (None: the default course) starts with."""
    return f"course.{course}." if course else COLLECTION_PREFIX
# An ingest that died without releasing its lock stops blocking others after this long.
STALE_LOCK_SECONDS = 3600


class ChromaServerStore:
    """Generations as collections on a Chroma server, shared by app processes on any number of hosts.

    The manifest is one record in the `course-manifest` collection. Ingest writes the new generation's
    collection in full, then replaces that record with one upsert, then deletes generations older than
    the one before. A reader re-reads the record before each question, so every replica moves to the new
    generation on its next question and never sees a half-written one."""

    def __init__(self, host: str, port: int, course: str | None = None):
        self.host = host
        self.port = port
        self.course = course
        self.prefix = collection_prefix(course)
        self.manifest_collection = self.prefix + "manifest"
        self.lock_collection = self.prefix + "ingest-lock"
        self._client: Any = None
        self._manifests: Any = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        where = f"chroma server {self.host}:{self.port}"
        return f"{where} (course {self.course})" if self.course else where

    def _unreachable(self, err: Exception) -> IndexUnusableError:
        return IndexUnusableError(
            f"Cannot reach the Chroma server at {self.host}:{self.port} ({type(err).__name__}: {err}). Start it with "
            f"`chroma run --path DIR --host {self.host} --port {self.port}`, or fix COURSE_GUIDE_CHROMA_HOST/COURSE_GUIDE_CHROMA_PORT."
        )

    def client(self):
        with self._lock:
            if self._client is None:
                import chromadb
                from chromadb.config import Settings as ChromaSettings

                try:
                    self._client = chromadb.HttpClient(
                        host=self.host, port=self.port, settings=ChromaSettings(anonymized_telemetry=False)
                    )
                except (ValueError, OSError, ConnectionError) as err:
                    raise self._unreachable(err) from None
            return self._client

    @contextmanager
    def _talking(self) -> Iterator[None]:
        """Server calls: a lost connection becomes a one-line IndexUnusableError."""
        import httpx

        try:
            yield
        except (httpx.TransportError, ConnectionError) as err:
            raise self._unreachable(err) from None

    def _collection_or_none(self, name: str):
        from chromadb.errors import NotFoundError

        try:
            return self.client().get_collection(name, embedding_function=None)
        except (NotFoundError, ValueError):
            return None

    def read_manifest(self) -> Manifest | None:
        from chromadb.errors import NotFoundError

        with self._talking():
            # The collection handle is kept: readers check the manifest before every question, one round trip each.
            manifests = self._manifests or self._collection_or_none(self.manifest_collection)
            if manifests is None:
                return None
            try:
                got = manifests.get(ids=[MANIFEST_ID], include=["documents"])
            except NotFoundError:  # the server was wiped or re-created: look it up again next time
                self._manifests = None
                return None
            self._manifests = manifests
        if not got["ids"]:
            return None
        try:
            return Manifest.from_json(got["documents"][0])
        except (ValueError, KeyError, TypeError) as err:
            raise self.damaged_error(f"unreadable manifest: {err}") from None

    def publish_manifest(self, manifest: Manifest) -> None:
        with self._talking():
            manifests = self.client().get_or_create_collection(self.manifest_collection, embedding_function=None)
            # Chroma stores vectors with every record; the manifest's is a placeholder that nothing searches.
            manifests.upsert(ids=[MANIFEST_ID], documents=[manifest.to_json()], embeddings=[[1.0]])

    def open_collection(self, generation: str, create: bool = False):
        name = self.prefix + generation
        with self._talking():
            if create:
                return self.client().create_collection(
                    name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
                )
            return self.client().get_collection(name, embedding_function=None)

    def close_collection(self, collection) -> None:
        """Nothing to release: every collection shares the one HTTP client."""

    def prune(self, keep: set[str]) -> None:
        keep_names = {self.prefix + generation for generation in keep}
        with self._talking():
            for collection in self.client().list_collections():
                name = collection.name
                if name.startswith(self.prefix + "gen-") and name not in keep_names:
                    self.client().delete_collection(name)

    @contextmanager
    def ingest_lock(self) -> Iterator[None]:
        """Creating a collection is atomic on the server (names are unique), so a lock collection serialises ingests across hosts."""
        with self._talking():
            self._take_lock()
        try:
            yield
        finally:
            with self._talking():
                self.client().delete_collection(self.lock_collection)

    def _take_lock(self) -> None:
        from chromadb.errors import ChromaError

        holder = {"holder": f"{socket.gethostname()}:{os.getpid()}", "since": time.time()}
        for _attempt in range(2):
            try:
                self.client().create_collection(self.lock_collection, metadata=holder, embedding_function=None)
                return
            except (ChromaError, ValueError):
                held = self._collection_or_none(self.lock_collection)
                since = float((held.metadata or {}).get("since", 0)) if held is not None else 0.0
                if held is not None and time.time() - since < STALE_LOCK_SECONDS:
                    raise IndexBusyError(
                        f"Another ingest ({(held.metadata or {}).get('holder', 'unknown')}) is writing the index on "
                        f"{self.describe()}; wait for it to finish, then run again."
                    ) from None
                if held is not None:
                    self.client().delete_collection(self.lock_collection)  # left by an ingest that died
        raise IndexBusyError(f"Could not take the ingest lock on {self.describe()}; run ingest again.")

    def remove_all(self) -> None:
        """Delete every collection of this course (its generations, manifest and lock): the course is removed."""
        with self._talking():
            for collection in self.client().list_collections():
                if collection.name.startswith(self.prefix + "gen-") or collection.name in (self.manifest_collection, self.lock_collection):
                    self.client().delete_collection(collection.name)
            self._manifests = None

    def missing_error(self) -> IndexMissingError:
        return IndexMissingError(
            None,
            f"No course index on the {self.describe()}. Run `course-guide ingest --corpus YOUR_COURSE_FOLDER` "
            "with the same COURSE_GUIDE_CHROMA_HOST and COURSE_GUIDE_CHROMA_PORT first.",
        )

    def damaged_error(self, problem: str) -> IndexUnusableError:
        return IndexUnusableError(
            f"The course index on the {self.describe()} is damaged ({problem}). Run `course-guide ingest` against it to rebuild it."
        )
