"""Read access to the search index for answering: open the store the settings name and follow its live generation."""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from core.local_store import LocalStore
from core.store import Manifest, Store, get_every_record
from core.types import Chunk, RetrievedChunk


def open_store(settings) -> Store:
    """The store the settings name: a Chroma server when chroma_host is set, else the index folder; for a registered
    course, that course's own collections on the server or its own folder (courses/NAME) in the index folder."""
    if settings.chroma_host:
        from core.chroma_store import ChromaServerStore

        return ChromaServerStore(settings.chroma_host, settings.chroma_port, settings.course)
    return LocalStore(Path(settings.course_index_dir()))


class _Generation:
    """One opened generation and how many reads are using it right now."""

    def __init__(self, manifest: Manifest, collection):
        self.manifest = manifest
        self.collection = collection
        self.readers = 0
        self.retired = False


class IndexReader:
    """Read access for answering. It follows the manifest, so a finished ingest is picked up on the next question.

    A replaced generation is closed as soon as the last read still using it ends, so a server that
    sees many publishes keeps its open files, threads and memory flat and lets pruned folders go."""

    def __init__(self, location: Path | str | Store):
        self.store: Store = LocalStore(Path(location)) if isinstance(location, (str, os.PathLike)) else location
        self.db_dir = getattr(self.store, "db_dir", None)
        self._live: _Generation | None = None
        self._chunks: list[Chunk] | None = None
        # The chat answers in worker threads; opening a generation twice at once upsets Chroma's client cache.
        self._lock = threading.RLock()

    @property
    def manifest(self) -> Manifest | None:
        return self._live.manifest if self._live else None

    def refresh(self) -> Manifest:
        """Reopen if an ingest published a new generation; IndexMissingError if there is none."""
        manifest = self.store.read_manifest()
        if manifest is None:
            raise self.store.missing_error()
        with self._lock:
            if self._live is None or manifest.generation != self._live.manifest.generation:
                from chromadb.errors import ChromaError

                try:
                    collection = self.store.open_collection(manifest.generation)
                except (ChromaError, ValueError) as err:
                    raise self.store.damaged_error(f"{type(err).__name__}: {err}") from None
                old, self._live = self._live, _Generation(manifest, collection)
                self._chunks = None
                if old is not None:
                    old.retired = True
                    self._close_if_unused(old)
            live = self._live
        return live.manifest

    def _close_if_unused(self, generation: _Generation) -> None:
        if generation.retired and generation.readers == 0 and generation.collection is not None:
            self.store.close_collection(generation.collection)
            generation.collection = None

    @contextmanager
    def _reading(self) -> Iterator[tuple[Manifest, Any]]:
        """The live generation's manifest and collection, kept open until the block ends even if a newer one is published meanwhile."""
        self.refresh()
        with self._lock:
            generation = self._live
            assert generation is not None, "refresh() opened a generation"
            generation.readers += 1
        try:
            yield generation.manifest, generation.collection
        finally:
            with self._lock:
                generation.readers -= 1
                self._close_if_unused(generation)

    def close(self) -> None:
        """Release the open generation (the reader opens it again if used after this)."""
        with self._lock:
            old, self._live, self._chunks = self._live, None, None
            if old is not None:
                old.retired = True
                self._close_if_unused(old)

    def count(self) -> int:
        with self._reading() as (_, collection):
            return collection.count()

    def chunks(self) -> list[Chunk]:
        """Every chunk, in corpus order; cached per generation."""
        with self._reading() as (manifest, collection):
            with self._lock:
                if self._chunks is not None and self._live is not None and self._live.manifest is manifest:
                    return self._chunks
            got = get_every_record(collection, ["documents", "metadatas"])
            chunks = sorted(
                (Chunk.from_store(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])),
                key=lambda c: (c.source, c.ordinal),
            )
            with self._lock:
                if self._live is not None and self._live.manifest is manifest:
                    self._chunks = chunks
            return chunks

    def search(self, query_embedding: np.ndarray, k: int) -> list[RetrievedChunk]:
        """Nearest chunks by cosine similarity, best first."""
        with self._reading() as (manifest, collection):
            # The manifest's count, not collection.count(): that is a store round trip (~3 ms) on every question.
            k = min(k, manifest.chunk_count)
            if k == 0:
                return []
            got = collection.query(
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
        with self._reading() as (_, collection):
            got = collection.get(ids=ids, include=["embeddings"])
        return {i: np.asarray(v, dtype=np.float32) for i, v in zip(got["ids"], got["embeddings"])}
