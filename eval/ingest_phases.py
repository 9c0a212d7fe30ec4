"""Seconds per step of cold ingests of the shipped course (wall and process CPU), to see what ingest spends outside the model."""
from __future__ import annotations

import argparse
import functools
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

from core.settings import use_offline_environment

ROOT = Path(__file__).resolve().parent.parent
# The steps of ingest.pipeline timed by name; whatever is not the encode call counts as overhead.
STEPS = ["list_course_files", "_plan", "_chunk_changed", "_stored", "_assemble", "_write_generation", "_save_postings", "_quiz_items"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.ingest_phases", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="cold ingests to time (after one untimed, for imports)")
    args = parser.parse_args(argv)
    use_offline_environment()

    import ingest.pipeline as pipeline
    from core.local_store import LocalStore
    from core.model import load_embedder
    from core.settings import Settings

    wall: dict[str, float] = defaultdict(float)
    cpu: dict[str, float] = defaultdict(float)

    def timed(function: Callable, label: str) -> Callable:
        @functools.wraps(function)
        def wrapper(*a: Any, **k: Any) -> Any:
            started, used = time.perf_counter(), time.process_time()
            try:
                return function(*a, **k)
            finally:
                wall[label] += time.perf_counter() - started
                cpu[label] += time.process_time() - used

        return wrapper

    for name in STEPS:
        if hasattr(pipeline, name):
            setattr(pipeline, name, timed(getattr(pipeline, name), name))
    LocalStore.publish_manifest = timed(LocalStore.publish_manifest, "publish")  # type: ignore[method-assign]

    tmp = Path(tempfile.mkdtemp(prefix="course-guide-phases-"))
    try:
        shutil.copytree(ROOT / "corpus", tmp / "corpus")
        base = Settings(corpus_dir=tmp / "corpus", db_dir=tmp / "db-warm")
        model = load_embedder(base.model_path)
        model.encode(["What is MLOps?"] * 12, batch_size=base.embed_batch_size)

        class TimedEmbedder:
            """The model, its encode calls timed (process CPU counts the threads working meanwhile too)."""

            name, max_tokens = model.name, model.max_tokens
            count_tokens = staticmethod(model.count_tokens)
            encode = staticmethod(timed(model.encode, "encode"))

        pipeline.ingest_corpus(base, lambda: TimedEmbedder())
        for run in range(args.repeats):
            wall.clear()
            cpu.clear()
            settings = base.model_copy(update={"db_dir": tmp / f"db-{run}"})
            started, used = time.perf_counter(), time.process_time()
            report = pipeline.ingest_corpus(settings, lambda: TimedEmbedder())
            total_wall, total_cpu = time.perf_counter() - started, time.process_time() - used
            print(f"run {run}: {report.chunks} chunks, {total_wall:.3f} s wall / {total_cpu:.3f} s CPU; outside the model "
                  f"{total_wall - wall['encode']:.3f} s wall / {total_cpu - cpu['encode']:.3f} s CPU")
            for label in sorted(wall, key=lambda k: -wall[k]):
                print(f"   {label:20s} {wall[label]:7.3f} s wall {cpu[label]:7.3f} s CPU")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
