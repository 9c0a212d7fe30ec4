"""Read access to the search index for answering: open the store the settings name and follow its live generation."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from core.local_store import LocalStore
from core.store import Manifest, Store
from core.types import Chunk, RetrievedChunk


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
