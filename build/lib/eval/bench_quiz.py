"""Quiz grading benchmark: how often the grader agrees with hand labels on eval/datasets/quiz_grading.jsonl.

Run `python -m eval.bench_quiz` (it ingests the shipped course into a temp index if none is given)."""
from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from core.settings import Settings, use_offline_environment

DATASET = Path(__file__).parent / "datasets" / "quiz_grading.jsonl"
REPO = Path(__file__).resolve().parents[1]


def read_labelled_replies(path: Path = DATASET) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for number, row in enumerate(rows, start=1):
        if not {"item_id", "reply", "label", "kind"} <= set(row) or row["label"] not in ("correct", "partly", "wrong"):
            raise ValueError(f"{path}: line {number}: needs item_id, reply, kind and a label of correct/partly/wrong")
    return rows


def agreement(guide, rows: list[dict]) -> dict:
    """Per row, the grader's verdict against the label; totals overall, per label and per kind of reply."""
    from app.quiz.bank import course_items
    from app.quiz.grading import grade_reply

    items = course_items(guide)
    missing = sorted({r["item_id"] for r in rows} - set(items))
    if missing:
        raise ValueError(f"unknown quiz item ids in the dataset: {', '.join(missing)}")
    results = []
    for row in rows:
        grade = grade_reply(items[row["item_id"]], row["reply"], guide.embedder)
        results.append({**row, "verdict": grade.verdict, "score": grade.score, "agree": grade.verdict == row["label"]})
    return {"results": results}


def _table(title: str, results: list[dict], key: str) -> list[str]:
    groups: dict[str, list[dict]] = {}
    for r in results:
        groups.setdefault(r[key], []).append(r)
    lines = [f"{title:<12} {'replies':>8} {'agree':>7} {'agreement':>10}"]
    for name, group in sorted(groups.items()):
        agreed = sum(r["agree"] for r in group)
        lines.append(f"{name:<12} {len(group):>8} {agreed:>7} {agreed / len(group):>9.1%}")
    agreed = sum(r["agree"] for r in results)
    lines.append(f"{'all':<12} {len(results):>8} {agreed:>7} {agreed / len(results):>9.1%}")
    return lines


def main(db_dir: Path | None = None) -> None:
    use_offline_environment()
    from app.engine.guide import open_guide
    from core.model import load_embedder
    from ingest.pipeline import ingest_corpus

    embedder = load_embedder()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(corpus_dir=REPO / "corpus", db_dir=db_dir or Path(tmp) / "index")
        if db_dir is None:
            ingest_corpus(settings, lambda: embedder)
        guide = open_guide(settings, embedder)
        rows = read_labelled_replies()
        started = time.perf_counter()
        results = agreement(guide, rows)["results"]
        seconds = time.perf_counter() - started
    print("Quiz grading agreement with hand labels (eval/datasets/quiz_grading.jsonl)\n")
    print("\n".join(_table("label", results, "label")))
    print()
    print("\n".join(_table("kind", results, "kind")))
    confusion = Counter((r["label"], r["verdict"]) for r in results if not r["agree"])
    if confusion:
        print("\ndisagreements (label -> verdict): " + ", ".join(f"{a}->{b}: {n}" for (a, b), n in sorted(confusion.items())))
    for r in results:
        if not r["agree"]:
            print(f"  {r['item_id']}: {r['reply']!r} labelled {r['label']}, graded {r['verdict']} ({r['score']:.2f})")
    print(f"\n{len(results)} replies graded in {seconds:.1f} s ({1000 * seconds / len(results):.0f} ms each)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
