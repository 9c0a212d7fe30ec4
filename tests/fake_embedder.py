"""A deterministic stand-in for the embedding model, for the fast test tier: hashed bag of word stems, unit length.

It behaves like a model where the logic needs one (similar words give similar vectors, every text fits a window
counted in words), loads in no time, and never stands in for the real model where quality or speed is measured."""
from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from core.text import content_words

_TOKEN = re.compile(r"\w+|[^\w\s]")


class HashingEmbedder:
    """Satisfies core.model.TextEmbedder. Words are hashed into `dimensions` buckets (feature hashing)."""

    name = "hashing-fake"

    def __init__(self, dimensions: int = 384, max_tokens: int = 256):
        self.dimensions = dimensions
        self.max_tokens = max_tokens

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimensions, dtype=np.float32)
        for word in content_words(text) or text.lower().split():
            bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
            vector[bucket % self.dimensions] += 1.0
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            vector[0] = 1.0
            return vector
        return vector / norm

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dimensions), dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        """Words and punctuation marks, plus the two special tokens a BERT-style model adds."""
        return len(_TOKEN.findall(text)) + 2
