"""The ONNX Runtime embedding backends: exported offline from the packaged weights, close to torch's vectors, their own index config."""
from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from app.cli.main import main
from core.local_store import read_manifest
from core.model import EmbedderError, default_model_path, export_onnx, load_embedder, model_identity
from core.settings import Settings
from ingest.pipeline import ingest_corpus

pytestmark = pytest.mark.model  # every test here runs the real model, through torch or ONNX Runtime

REPO = Path(__file__).resolve().parents[1]
# Measured on the sentences below (see README, "Embedding backends"): int8 weights move vectors a little.
ONNX_MIN_COSINE = 0.99
INT8_MIN_COSINE, INT8_MEAN_COSINE = 0.95, 0.98


def _no_network(*_args, **_kwargs):
    raise AssertionError("the embedding model tried to open a network connection")


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory) -> Path:
    """One ONNX export of the packaged weights per session, made with every socket connection failing."""
    cache = tmp_path_factory.mktemp("onnx-models")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _no_network)
        patch.setattr(socket, "create_connection", _no_network)
        export_onnx(default_model_path(), cache, model_identity(None))
    return cache


@pytest.fixture(scope="session")
def onnx_embedder(onnx_cache):
    return load_embedder(None, "onnx", onnx_cache)


@pytest.fixture(scope="session")
def int8_embedder(onnx_cache):
    return load_embedder(None, "onnx-int8", onnx_cache)


@pytest.fixture(scope="session")
def course_sentences() -> list[str]:
    """Sixty paragraphs of the shipped MLOps course, as ingest would embed them (long ones run past the window)."""
    paragraphs = [
        " ".join(p.split()) for path in sorted((REPO / "corpus").glob("*.md"))
        for p in path.read_text(encoding="utf-8").split("\n\n") if len(p.split()) >= 8 and not p.startswith("```")
    ]
    return paragraphs[::max(1, len(paragraphs) // 60)][:60]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_each_backend_loads_from_the_packaged_weights_with_no_network(onnx_cache, monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    package = default_model_path()
    for backend in ("torch", "onnx", "onnx-int8"):
        embedder = load_embedder.__wrapped__(None, backend, onnx_cache)  # a fresh load, not the cached one
        vector = embedder.encode(["What is a model registry?"])
        assert vector.shape == (1, 384) and abs(float(np.linalg.norm(vector)) - 1) < 1e-4, backend
        assert embedder.name == ("model" if backend == "torch" else f"model+{backend}")
    (export,) = [p for p in onnx_cache.iterdir() if p.is_dir()]
    meta = json.loads((export / "export.json").read_text())
    assert meta["source"] == model_identity(None) and meta["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert not list(package.rglob("*.onnx")), "nothing may be written into the installed package"


def test_the_export_is_made_once_and_reused(onnx_cache):
    (export,) = [p for p in onnx_cache.iterdir() if p.is_dir()]
    stamp = (export / "model.onnx").stat().st_mtime_ns
    assert export_onnx(default_model_path(), onnx_cache, model_identity(None)) == export
    assert (export / "model.onnx").stat().st_mtime_ns == stamp
    assert not [p for p in onnx_cache.iterdir() if ".tmp-" in p.name], "no half-made export is left behind"


def test_onnx_vectors_match_torch_on_course_sentences(embedder, onnx_embedder, int8_embedder, course_sentences):
    reference = embedder.encode(course_sentences)
    onnx = _cosines(onnx_embedder.encode(course_sentences, batch_size=7), reference)
    int8 = _cosines(int8_embedder.encode(course_sentences), reference)
    assert onnx.min() >= ONNX_MIN_COSINE, f"onnx min cosine {onnx.min():.4f}"
    assert int8.min() >= INT8_MIN_COSINE and int8.mean() >= INT8_MEAN_COSINE, f"int8 min {int8.min():.4f}, mean {int8.mean():.4f}"
    # The tokenizer is the model's own, so chunk sizing cannot change with the backend.
    for text in course_sentences[:5] + ["x " * 400]:
        assert onnx_embedder.count_tokens(text) == int8_embedder.count_tokens(text) == embedder.count_tokens(text)
    assert onnx_embedder.max_tokens == embedder.max_tokens == 256
    assert onnx_embedder.encode([]).shape == (0, 384)


def test_switching_the_backend_reembeds_the_course(course, tmp_path, embedder, onnx_embedder):
    torch_settings = Settings(corpus_dir=course, db_dir=tmp_path / "index")
    onnx_settings = torch_settings.model_copy(update={"embed_backend": "onnx"})
    first = ingest_corpus(torch_settings, lambda: embedder)
    assert first.embedded == first.chunks > 0

    switched = ingest_corpus(onnx_settings, lambda: onnx_embedder)
    assert switched.embedded == switched.chunks == first.chunks and switched.published
    assert read_manifest(onnx_settings.db_dir).config["model"] == model_identity(None) + "+onnx"
    again = ingest_corpus(onnx_settings, lambda: onnx_embedder)
    assert again.embedded == 0 and not again.published

    back = ingest_corpus(torch_settings, lambda: embedder)
    assert back.embedded == back.chunks
    assert read_manifest(torch_settings.db_dir).config["model"] == model_identity(None), "torch keeps its pre-backend name"


@pytest.mark.parametrize("value", ["tensorrt", "", "onnx_int8"])
def test_a_bad_backend_value_is_a_clear_settings_error(value, tmp_path):
    with pytest.raises(ValueError, match="is not one of torch, onnx, onnx-int8; set COURSE_GUIDE_EMBED_BACKEND"):
        Settings(embed_backend=value)
    result = CliRunner().invoke(main, ["ingest", "--db", str(tmp_path / "index")], env={"COURSE_GUIDE_EMBED_BACKEND": value})
    assert result.exit_code == 1 and "Invalid setting" in result.output and "COURSE_GUIDE_EMBED_BACKEND" in result.output
    assert "Traceback" not in result.output
    assert Settings(embed_backend=" ONNX ").embed_backend == "onnx", "case and spaces are forgiven"


def test_an_unwritable_cache_is_a_one_line_error(course, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    env = {"COURSE_GUIDE_EMBED_BACKEND": "onnx-int8", "COURSE_GUIDE_MODEL_CACHE_DIR": str(blocker / "models")}
    result = CliRunner().invoke(main, ["ingest", "--corpus", str(course), "--db", str(tmp_path / "index")], env=env)
    assert result.exit_code == 1, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert "cannot write the ONNX export" in line and "COURSE_GUIDE_MODEL_CACHE_DIR" in line and "Traceback" not in result.output
    assert not (tmp_path / "index").exists() or not list((tmp_path / "index").glob("gen-*")), "nothing was published"


def test_a_damaged_export_says_how_to_remake_it(onnx_cache, tmp_path):
    import shutil

    cache = tmp_path / "models"
    shutil.copytree(onnx_cache, cache)
    (export,) = [p for p in cache.iterdir() if p.is_dir()]
    (export / "model-int8.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(EmbedderError, match=f"does not load .*delete {export} to export it again"):
        load_embedder.__wrapped__(None, "onnx-int8", cache)
