"""Benchmarks for `make bench`: ingest vs raw model throughput, no-change re-ingest cost and warm `ask` latency on the shipped course."""
from __future__ import annotations

import os

from core.settings import use_offline_environment

use_offline_environment()

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "eval" / "datasets" / "refusal_calibration.jsonl"
WARMUP_QUESTIONS = ["What is MLOps?", "How is data drift detected?", "What is a feature store?"]
QUIET: dict[str, Any] = {"log": lambda _m: None, "progress": False}


def percentile(values: list[float], pct: int) -> float:
    # Inclusive method so p100 is the max and small samples are not extrapolated past it.
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def bench(repeats: int) -> dict:
    import torch

    from app.engine.answer import answer_question
    from app.engine.guide import open_guide
    from core.index import IndexReader
    from core.model import load_embedder
    from core.settings import Settings
    from ingest.pipeline import ingest_corpus

    tmp = Path(tempfile.mkdtemp(prefix="course-guide-bench-"))
    try:
        corpus = tmp / "corpus"
        shutil.copytree(ROOT / "corpus", corpus)
        base = Settings(corpus_dir=corpus, db_dir=tmp / "db-0")
        embedder = load_embedder(base.model_path)
        # The first batches pay for lazy kernel setup; keep that out of every timed run.
        embedder.encode(WARMUP_QUESTIONS * 4, batch_size=base.embed_batch_size)

        ingest_rates, raw_rates, chunks = [], [], 0
        for run in range(repeats):
            # A new empty db each time, so every ingest embeds the whole corpus.
            settings = base.model_copy(update={"db_dir": tmp / f"db-{run}"})
            report = ingest_corpus(settings, lambda: embedder, **QUIET)
            chunks = report.chunks
            ingest_rates.append(report.chunks / report.seconds)
            # The exact texts ingest embedded, so the only difference is the pipeline around the model.
            texts = [c.embed_text() for c in IndexReader(settings.db_dir).chunks()]
            started = time.perf_counter()
            embedder.encode(texts, batch_size=settings.embed_batch_size)
            raw_rates.append(len(texts) / (time.perf_counter() - started))
        # Best of N, not median: on a shared 2-core VM, interference only ever slows a run down, and the
        # same encode of the same texts was seen to vary by 25% between runs.
        ingest_rate, raw_rate = max(ingest_rates), max(raw_rates)
        cold_seconds = chunks / ingest_rate

        problems, reingest = [], []
        for _ in range(5):
            report = ingest_corpus(settings, lambda: embedder, **QUIET)
            reingest.append(report.seconds)
            if report.embedded != 0 or report.published:
                problems.append(f"no-change re-ingest embedded {report.embedded} chunks, published={report.published}")

        guide = open_guide(settings, embedder)
        guide.warm()  # as `serve` does in the background when it starts
        for question in WARMUP_QUESTIONS:
            answer_question(guide, question)
        questions = [json.loads(line)["question"] for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
        timings = [answer_question(guide, q).timings_ms for q in questions]
        total = [t["total"] for t in timings]

        return {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "repeats": repeats,
            "chunks": chunks,
            "ingest_chunks_per_s": ingest_rate,
            "raw_chunks_per_s": raw_rate,
            "ingest_raw_ratio": ingest_rate / raw_rate,
            "pipeline_overhead_s": cold_seconds - chunks / raw_rate,
            "reingest_s": statistics.median(reingest),
            "reingest_fraction": statistics.median(reingest) / cold_seconds,
            "questions": len(questions),
            "ask_p50_ms": percentile(total, 50),
            "ask_p95_ms": percentile(total, 95),
            "ask_max_ms": max(total),
            "retrieve_p50_ms": statistics.median(t["retrieve"] for t in timings),
            "answer_p50_ms": statistics.median(t["answer"] for t in timings),
            "problems": problems,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def print_table(r: dict) -> None:
    def ok(passed: bool | None) -> str:
        return "" if passed is None else ("ok" if passed else "MISS")

    rows = [
        ("chunks in index", f"{r['chunks']}", "", ok(None)),
        ("cold ingest chunks/s", f"{r['ingest_chunks_per_s']:.1f}", "", ok(None)),
        ("raw encode chunks/s", f"{r['raw_chunks_per_s']:.1f}", "", ok(None)),
        ("ingest / raw ratio", f"{r['ingest_raw_ratio']:.2f}", ">= 0.9", ok(r["ingest_raw_ratio"] >= 0.9)),
        ("pipeline overhead s", f"{r['pipeline_overhead_s']:.2f}", "", ok(None)),
        ("no-change re-ingest s", f"{r['reingest_s']:.3f}", "", ok(None)),
        ("re-ingest fraction of cold", f"{r['reingest_fraction']:.3f}", "< 0.05", ok(r["reingest_fraction"] < 0.05)),
        ("ask p50 ms", f"{r['ask_p50_ms']:.1f}", "< 60", ok(r["ask_p50_ms"] < 60)),
        ("ask p95 ms", f"{r['ask_p95_ms']:.1f}", "", ok(None)),
        ("ask max ms", f"{r['ask_max_ms']:.1f}", "", ok(None)),
        ("retrieve p50 ms", f"{r['retrieve_p50_ms']:.1f}", "", ok(None)),
        ("answer p50 ms", f"{r['answer_p50_ms']:.1f}", "", ok(None)),
    ]
    header = ("metric", "value", "target", "ok")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    line = lambda cells: " | ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    print(f"machine: {r['cpu_count']} CPUs, torch threads {r['torch_threads']}; "
          f"best of {r['repeats']} cold ingests and raw encodes, median of 5 no-change re-ingests, {r['questions']} questions")
    print(line(header))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(line(row))
    for problem in r["problems"]:
        print(f"FAIL: {problem}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="also print the numbers as JSON after the table")
    parser.add_argument("--repeats", type=int, default=3, help="cold ingests and raw encodes to take the best of")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    results = bench(args.repeats)
    print_table(results)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0  # a report, not a gate: missed targets are marked MISS, not failed


if __name__ == "__main__":
    sys.exit(main())
