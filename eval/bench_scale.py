"""`make bench` scale table: a 100,000-chunk course in a real local Chroma generation; hybrid retrieval latency, the
serving process's memory and the time to publish a one-lesson edit, with rank_bm25 compared in the same run."""
from __future__ import annotations

from core.settings import use_offline_environment

use_offline_environment()

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ingest.pipeline import IngestReport

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = ROOT / "eval" / "datasets" / "dev.jsonl"
# Synthetic lessons hold this many chunks each, about a long lesson of the shipped course.
CHUNKS_PER_LESSON = 50
WORDS_PER_CHUNK = 120
EDITED_LESSON = "09-model-monitoring.md"


def _synthetic_chunks(real_chunks, count: int, corpus: Path, seed: int):
    """`count` chunks in lessons synthetic/lesson-NNNNN.md, with words drawn from the real course's word frequencies (so
    BM25's postings have a real course's shape) and random unit vectors; each lesson file is written so ingest sees it unchanged."""
    from core.text import content_words
    from core.types import Chunk
    from ingest.loaders import source_sha256

    rng = np.random.default_rng(seed)
    frequencies = Counter(word for chunk in real_chunks for word in content_words(chunk.text))
    words = np.array(list(frequencies))
    weights = np.array(list(frequencies.values()), dtype=np.float64)
    drawn = rng.choice(len(words), size=(count, WORDS_PER_CHUNK), p=weights / weights.sum())
    vectors = rng.standard_normal((count, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    folder = corpus / "synthetic"
    folder.mkdir()
    chunks: list[Chunk] = []
    files: dict[str, tuple[str, str, int]] = {}
    for lesson_start in range(0, count, CHUNKS_PER_LESSON):
        number = lesson_start // CHUNKS_PER_LESSON
        source = f"synthetic/lesson-{number:05d}.md"
        title = f"Synthetic lesson {number}"
        path = corpus / source
        path.write_text(f"# {title}\n\nA stand-in file: its chunks were made by eval/bench_scale.py, not read from here.\n")
        sha = source_sha256(path)
        lesson: list[Chunk] = []
        for ordinal, row in enumerate(drawn[lesson_start : lesson_start + CHUNKS_PER_LESSON]):
            text = " ".join(words[row]) + "."
            section = f"{title} > Part {ordinal // 5}"
            lesson.append(Chunk(Chunk.make_id(source, section, None, text), text, source, title, section, None, None, ordinal, sha))
        chunks += lesson
        files[source] = (sha, title, len(lesson))
    return chunks, vectors[: len(chunks)], files


def build_course(work: Path, total: int, embedder, seed: int = 16):
    """The shipped course ingested for real (real vectors), plus synthetic lessons up to `total` chunks, written as one
    real generation with batched adds and published like an ingest would. Returns the settings and build seconds."""
    from core.index import IndexReader
    from core.local_store import LocalStore
    from core.postings import Postings
    from core.settings import Settings
    from core.store import FileEntry, new_generation_name
    from ingest.pipeline import _write_generation, ingest_corpus

    corpus = work / "course"
    shutil.copytree(ROOT / "corpus", corpus)
    settings = Settings(corpus_dir=corpus, db_dir=work / "index")
    ingest_corpus(settings, lambda: embedder)
    phase("shipped course ingested")
    store = LocalStore(settings.db_dir)
    real = store.read_manifest()
    assert real is not None
    reader = IndexReader(store)
    real_chunks = reader.chunks()
    real_vectors = reader.embeddings([c.id for c in real_chunks])
    reader.close()
    started = time.perf_counter()
    synthetic, synthetic_vectors, synthetic_files = _synthetic_chunks(real_chunks, max(0, total - len(real_chunks)), corpus, seed)
    chunks = real_chunks + synthetic
    vectors: list[np.ndarray] = [real_vectors[c.id] for c in real_chunks] + list(synthetic_vectors)
    name = new_generation_name()
    phase(f"{len(synthetic)} synthetic chunks made; writing the generation")
    _write_generation(store, name, chunks, vectors)
    store.save_postings(name, Postings.from_chunks(chunks))  # as ingest stores them
    phase("generation written")
    files = dict(real.files) | {s: FileEntry(sha, title, n) for s, (sha, title, n) in synthetic_files.items()}
    store.publish_manifest(replace(real, generation=name, files=files, chunk_count=len(chunks), previous=real.generation))
    store.prune(keep={name, real.generation})
    return settings, time.perf_counter() - started


_BENCH_STARTED = time.perf_counter()


def phase(what: str) -> None:
    """One line on stderr with the run's wall time so far, so a long run shows where its time goes."""
    print(f"[bench_scale {time.perf_counter() - _BENCH_STARTED:7.1f} s] {what}", file=sys.stderr, flush=True)


def _percentiles(timings: list[float]) -> tuple[float, float]:
    from eval.bench import percentile

    return percentile(timings, 50), percentile(timings, 95)


def time_retrieval(guide, questions: list[str], lexical, mode: str) -> tuple[float, float]:
    """p50/p95 ms of hybrid_search for each question (its vector made beforehand), with the given lexical index."""
    from app.engine.retrieval import hybrid_search

    config = replace(guide.retrieval, mode=mode)
    vectors = guide.embedder.encode(questions)
    hybrid_search(questions[0], vectors[0], guide.index, lexical, guide.settings.top_k, config)  # warm
    timings = []
    for question, vector in zip(questions, vectors):
        started = time.perf_counter()
        hybrid_search(question, vector, guide.index, lexical, guide.settings.top_k, config)
        timings.append((time.perf_counter() - started) * 1000)
    return _percentiles(timings)


def time_retrieve(guide, questions: list[str]) -> tuple[float, float]:
    """p50/p95 ms of Guide.retrieve: the question embedded, then hybrid search, as every answer does."""
    guide.retrieve(questions[0])
    timings = []
    for question in questions:
        started = time.perf_counter()
        guide.retrieve(question)
        timings.append((time.perf_counter() - started) * 1000)
    return _percentiles(timings)


def rank_bm25_lexical(lexical):
    """The same LexicalIndex with its BM25 half scored by rank_bm25's BM25Okapi (pure Python over every chunk), as before the sparse matrix."""
    from rank_bm25 import BM25Okapi

    from app.engine.retrieval import LexicalIndex
    from core.text import content_words

    class RankBM25Lexical(LexicalIndex):
        def __init__(self, base: LexicalIndex):
            self.__dict__.update(base.__dict__)
            self._okapi = BM25Okapi([content_words(chunk.embed_text()) for chunk in base.chunks])

        def search(self, question: str, k: int):
            terms = content_words(question)
            if not terms:
                return []
            scores = self._okapi.get_scores(terms)
            best = np.argsort(-scores, kind="stable")[:k]
            return [(self.chunks[i], float(scores[i])) for i in best if scores[i] > 0]

    return RankBM25Lexical(lexical)


def serving_figures(settings, questions: list[str]) -> dict[str, float]:
    """`course-guide serve` on the index in a child process: the first question's time (it builds BM25 for the
    generation), the next ones', and the server's resident memory after them."""
    import httpx

    from app.web.server import free_loopback_port
    from eval.soak import proc_figures, wait_for

    port = free_loopback_port()
    env = {**os.environ, "COURSE_GUIDE_RATE_LIMIT_PER_MINUTE": "1000000"}
    server = subprocess.Popen(
        [sys.executable, "-c", "from app.cli.main import main; main()", "serve", "--db", str(settings.db_dir),
         "--corpus", str(settings.corpus_dir), "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url, server, seconds=300)
        with httpx.Client(base_url=url, timeout=300) as http:
            timings = []
            for question in questions:
                started = time.perf_counter()
                http.post("/api/ask", json={"question": question}).raise_for_status()
                timings.append((time.perf_counter() - started) * 1000)
            figures = proc_figures(server.pid, settings.db_dir)
    finally:
        server.terminate()
        server.wait(timeout=60)
    return {"first answer ms": timings[0], "later answers p50 ms": _percentiles(timings[1:])[0], "RSS MB": figures["RSS MB"],
            "index on disk MB": figures["index on disk MB"]}


def time_one_lesson_edit(settings, embedder, edit: int, by_copy: bool) -> tuple[float, IngestReport]:
    """Seconds for ingest to publish an edit of one real lesson (a sentence added), and its report; with `by_copy`
    False, as before copy publishing: a whole new generation written."""
    from ingest import pipeline

    lesson = Path(settings.corpus_dir) / EDITED_LESSON
    lesson.write_text(lesson.read_text(encoding="utf-8") + f"\n\nBench edit {edit}: a drift alarm needs an owner.\n", encoding="utf-8")
    started = time.perf_counter()
    report = pipeline.ingest_corpus(settings.model_copy(update={"publish_by_copy": by_copy}), lambda: embedder)
    return time.perf_counter() - started, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=100_000, help="chunks in the course (the shipped course plus synthetic lessons)")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--rank-bm25-questions", type=int, default=20, help="rank_bm25 is slow at scale: fewer questions for its rows")
    parser.add_argument("--no-server", action="store_true", help="skip the serving process's figures")
    parser.add_argument("--no-edit", action="store_true", help="skip the one-lesson edit publishes")
    parser.add_argument("--no-full-write", action="store_true", help="skip the slow comparison: the edit published as a whole generation")
    args = parser.parse_args()

    from app.engine.guide import open_guide
    from app.engine.retrieval import LexicalIndex
    from core.model import load_embedder
    from eval.dataset import load_dataset

    embedder = load_embedder()
    cases = load_dataset(DEV_SET).cases
    questions = [cases[i % len(cases)].question for i in range(args.questions)]
    work = Path(tempfile.mkdtemp(prefix="course-guide-bench-scale-"))
    try:
        settings, build_seconds = build_course(work, args.chunks, embedder)
        guide = open_guide(settings, embedder)
        # What the first question after a publish costs a server: every chunk read from Chroma, then BM25 made
        # from the word counts stored with the generation (or, without them, by counting every chunk).
        started = time.perf_counter()
        every_chunk = guide.index.chunks()
        read_seconds = time.perf_counter() - started
        started = time.perf_counter()
        lexical = guide.lexical()
        lexical_seconds = time.perf_counter() - started
        started = time.perf_counter()
        LexicalIndex(lexical.generation, every_chunk)
        counting_seconds = time.perf_counter() - started
        phase(f"chunks read in {read_seconds:.1f} s; BM25 from stored counts {lexical_seconds:.1f} s, by counting {counting_seconds:.1f} s")
        chunks = len(lexical.chunks)
        started = time.perf_counter()
        slow = rank_bm25_lexical(lexical)
        slow_seconds = time.perf_counter() - started
        phase(f"rank_bm25 index built in {slow_seconds:.1f} s")
        few = questions[: args.rank_bm25_questions]
        rows = [
            ("hybrid (sparse-matrix BM25), embedding included", len(questions), time_retrieve(guide, questions)),
            ("hybrid (sparse-matrix BM25)", len(questions), time_retrieval(guide, questions, lexical, "hybrid")),
            ("BM25 alone (sparse matrix)", len(questions), time_retrieval(guide, questions, lexical, "bm25")),
            ("hybrid (rank_bm25)", len(few), time_retrieval(guide, few, slow, "hybrid")),
            ("BM25 alone (rank_bm25)", len(few), time_retrieval(guide, few, slow, "bm25")),
        ]
        del slow
        phase("retrieval timed")
        guide.index.close()

        print(f"\nScale: {chunks} chunks: the shipped course with its real vectors, plus synthetic lessons whose words are drawn from the course's word frequencies and "
              "whose vectors are random unit vectors (embedding 100k real chunks takes ~40 min here).")
        print(f"Build of the generation (batched adds into a local Chroma folder, and its word counts): {build_seconds:.1f} s.\n")
        print("| a server's first question after a publish | seconds |")
        print("|---|---|")
        print(f"| every chunk read from Chroma (`IndexReader.chunks`) | {read_seconds:.1f} |")
        print(f"| BM25 from the word counts stored with the generation | {lexical_seconds:.1f} |")
        print(f"| BM25 by counting every chunk (no stored counts: a Chroma server, or an older index) | {counting_seconds:.1f} |")
        print(f"| rank_bm25's BM25Okapi over every chunk | {slow_seconds:.1f} |\n")
        print("| retrieval, k=%d | questions | p50 ms | p95 ms |" % settings.top_k)
        print("|---|---|---|---|")
        for name, n, (p50, p95) in rows:
            print(f"| {name} | {n} | {p50:.1f} | {p95:.1f} |")

        if not args.no_server:
            served = serving_figures(settings, questions[:6])
            phase("serving process measured")
            print("\n| serving process (`course-guide serve`, 6 questions) | value |")
            print("|---|---|")
            for name, value in served.items():
                print(f"| {name} | {value:.0f} |")

        if not args.no_edit:
            print(f"\n| one-lesson edit ({EDITED_LESSON}), published | seconds | chunks embedded | chunks in index |")
            print("|---|---|---|---|")
            ways = [("by copy (COURSE_GUIDE_PUBLISH_BY_COPY=true)", True)] + ([] if args.no_full_write else [("whole generation written (COURSE_GUIDE_PUBLISH_BY_COPY=false)", False)])
            for edit, (name, by_copy) in enumerate(ways):
                seconds, report = time_one_lesson_edit(settings, embedder, edit, by_copy)
                print(f"| {name} | {seconds:.1f} | {report.embedded} | {report.chunks} |", flush=True)
                phase(f"edit published: {name}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
