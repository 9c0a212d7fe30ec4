"""`make bench` recording table: warm answer latency with learner-question recording on and off, in one run, on the dev set."""
from __future__ import annotations

from core.settings import use_offline_environment

use_offline_environment()

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.engine.guide import Guide
    from app.insights.recording import Recorder

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = ROOT / "eval" / "datasets" / "dev.jsonl"


@contextmanager
def guide_and_recorder(db: Path | None, store_url: str | None) -> Iterator[tuple[Guide, Recorder]]:
    """The guide on `db` (default: corpus/ ingested into a temp folder) and a recorder into `store_url` (default:
    SQLite in a temp state folder), for the store benchmarks; the temp folder goes when the block ends."""
    from app.engine.guide import open_guide
    from app.insights.recording import Recorder
    from core.model import load_embedder
    from core.settings import Settings
    from ingest.pipeline import ingest_corpus

    tmp = Path(tempfile.mkdtemp(prefix="course-guide-bench-store-"))
    try:
        embedder = load_embedder()
        settings = Settings(corpus_dir=ROOT / "corpus", db_dir=db or tmp / "index", state_dir=tmp / "state", store_url=store_url)
        if db is None:
            ingest_corpus(settings, lambda: embedder, log=lambda _m: None, progress=False)
        yield open_guide(settings, embedder), Recorder(settings)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, default=None, help="An existing index folder; default: ingest corpus/ into a temp dir.")
    parser.add_argument("--store-url", default=None, help="SQLAlchemy URL of the store to record into; default: SQLite in a temp state folder.")
    parser.add_argument("--rounds", type=int, default=2, help="Passes over the dev set (default 2).")
    args = parser.parse_args()

    from app.engine.answer import answer_question
    from eval.bench import percentile
    from eval.dataset import load_dataset

    with guide_and_recorder(args.db, args.store_url) as (guide, recorder):
        cases = load_dataset(DEV_SET).cases
        for case in cases[:10]:  # warm: model, BM25, the store's schema and connection pool
            recorder.record(answer_question(guide, case.question, case.history), channel="api")
        off: list[float] = []
        on: list[float] = []
        record: list[float] = []
        # On and off alternate question by question, so a slower or faster spell of the machine hits both alike.
        for round_ in range(args.rounds):
            for n, case in enumerate(cases):
                started = time.perf_counter()
                answer = answer_question(guide, case.question, case.history)
                answered = time.perf_counter()
                if (n + round_) % 2:
                    recorder.record(answer, channel="api", learner="bench")
                    done = time.perf_counter()
                    on.append((done - started) * 1000)
                    record.append((done - answered) * 1000)
                else:
                    off.append((answered - started) * 1000)
        recorded = recorder.store().count()
        print(f"\nRecording cost: {len(cases)} dev questions x {args.rounds}, warm, in process, into {recorder.store().describe()}")
        print(f"{'':>18}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}")
        for label, values in (("recording off", off), ("recording on", on), ("the record alone", record)):
            print(f"{label:>18}{percentile(values, 50):>9.2f}{percentile(values, 95):>9.2f}{statistics.fmean(values):>9.2f}")
        share = statistics.fmean(record) / statistics.fmean(off)
        print(f"recording adds {share * 100:.1f}% to the mean warm answer ({'within' if share <= 0.05 else 'OVER'} the 5% budget); "
              f"{recorded} questions recorded, {recorder.failed} failed")
        recorder.close()


if __name__ == "__main__":
    main()
