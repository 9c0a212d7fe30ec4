"""How close in meaning each candidate sentence of the offline answer is to the question, with the embedding model.

A chunk's sentence vectors are encoded once, in one batch with the question, and kept for the index generation
(the Guide holds the cache), so a warm answer encodes only its question."""
from __future__ import annotations

from collections.abc import MutableMapping, Sequence

import numpy as np

from core.model import TextEmbedder


class SentenceMeaning:
    """Cosine similarity of a question to the sentences of passages; vectors kept by chunk id in `cache`."""

    def __init__(self, embedder: TextEmbedder, cache: MutableMapping[str, np.ndarray], batch_size: int = 64):
        self.embedder = embedder
        self.cache = cache
        self.batch_size = batch_size

    def similarities(self, question: str, passages: Sequence[tuple[str, Sequence[str]]]) -> list[np.ndarray]:
        """For each (chunk id, its sentences), the cosine of every sentence to the question, in order."""
        # Two threads may both encode a chunk that neither found; each stores the same vectors, so no lock is needed.
        missing = {chunk_id: list(texts) for chunk_id, texts in passages if chunk_id not in self.cache and texts}
        batch = [question] + [text for sentences in missing.values() for text in sentences]
        vectors = self.embedder.encode(batch, batch_size=self.batch_size)
        query = vectors[0]
        at = 1
        for chunk_id, sentences in missing.items():
            self.cache[chunk_id] = vectors[at : at + len(sentences)]
            at += len(sentences)
        out = []
        for chunk_id, texts in passages:
            matrix = self.cache.get(chunk_id)
            out.append(matrix @ query if matrix is not None and len(texts) else np.zeros(len(texts), dtype=np.float32))
        return out
