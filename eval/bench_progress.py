"""`make bench` progress table: what grading a quiz reply and storing the attempt (with its FSRS card) adds to a quiz turn."""
from __future__ import annotations

from core.settings import use_offline_environment

use_offline_environment()

import argparse
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_MS = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, default=None, help="An existing index folder; default: ingest corpus/ into a temp dir.")
    parser.add_argument("--store-url", default=None, help="SQLAlchemy URL of the store; default: SQLite in a temp state folder.")
    parser.add_argument("--turns", type=int, default=200, help="Graded quiz turns to time (default 200).")
    args = parser.parse_args()

    from app.insights import progress
    from app.quiz.bank import course_items
    from app.quiz.grading import grade_reply
    from app.quiz.session import answer_turn, start_quiz
    from eval.bench import percentile
    from eval.bench_insights import guide_and_recorder

    with guide_and_recorder(args.db, args.store_url) as (guide, recorder):
        items = course_items(guide)
        grading: list[float] = []
        storing: list[float] = []
        turns: list[float] = []
        n = 0
        while len(storing) < args.turns:
            learner = f"bench-{n}"
            turn = start_quiz(guide, None, 10)
            progress.started(recorder, turn, learner)
            session = turn.session
            while session.current is not None and not session.finished and len(storing) < args.turns:
                item = items[session.current]
                reply = item.answer if n % 2 else "a change in the data"
                started = time.perf_counter()
                grade_reply(item, reply, guide.embedder)
                graded = time.perf_counter()
                turn = answer_turn(guide, session, reply)
                answered = time.perf_counter()
                stored = progress.record_turn(recorder, session, turn, reply, learner, "api")
                done = time.perf_counter()
                session = turn.session
                if stored is None:  # a missed item brought back in the same quiz: graded, not stored again
                    continue
                grading.append((graded - started) * 1000)
                turns.append((answered - graded) * 1000)
                storing.append((done - answered) * 1000)
            n += 1
        print(f"\nQuiz progress cost: {len(storing)} graded turns, warm, in process, into {recorder.store().describe()}")
        print(f"{'':>24}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}")
        for label, values in (("grading a reply", grading), ("storing the attempt", storing), ("the whole quiz turn", turns)):
            print(f"{label:>24}{percentile(values, 50):>9.2f}{percentile(values, 95):>9.2f}{statistics.fmean(values):>9.2f}")
        added = percentile(grading, 50) + percentile(storing, 50)
        print(f"grading + storing: {added:.2f} ms p50 ({'within' if added <= BUDGET_MS else 'OVER'} the {BUDGET_MS:.0f} ms budget); "
              f"{len(progress.attempts(recorder.store()))} attempts stored")
        recorder.close()


if __name__ == "__main__":
    main()
