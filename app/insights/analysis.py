"""What the instructor sees: counts, refusal rate, course gaps grouped by meaning, unhelpful answers, and eval lines."""
from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from app.insights.store import InteractionStore, utc

if TYPE_CHECKING:
    from core.model import TextEmbedder
    from core.settings import Settings

# A question answered this little above the refusal threshold is "low confidence": the course may barely cover it.
LOW_CONFIDENCE_MARGIN = 0.08
# Two questions at least this close in meaning (cosine of all-MiniLM-L6-v2 embeddings) are in one gap group.
GAP_SIMILARITY = 0.55
GAP_QUESTIONS_READ = 2000
EXAMPLES_PER_GAP = 3
_SINCE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$", re.I)


def parse_since(text: str | None, at: datetime) -> datetime | None:
    """'7d', '12h', '2w' (or an ISO date) as the moment that long before `at`; None for no limit."""
    if not text:
        return None
    match = _SINCE.match(text)
    if match:
        amount, unit = int(match.group(1)), match.group(2).lower()
        return at - timedelta(hours=amount) if unit == "h" else at - timedelta(days=amount * (7 if unit == "w" else 1))
    try:
        return utc(datetime.fromisoformat(text))
    except ValueError:
        raise ValueError(f"--since {text!r} is not a period or a date; write e.g. 7d, 12h, 2w or 2026-09-01") from None


def low_confidence(row: dict[str, Any], settings: Settings) -> bool:
    """Refused, or answered with its best passage only just above the refusal threshold."""
    if row["refused"]:
        return True
    best = (row.get("scope") or {}).get("best_similarity")
    return best is not None and best < settings.refusal_threshold + LOW_CONFIDENCE_MARGIN


def gap_groups(rows: list[dict[str, Any]], embedder: TextEmbedder, similarity: float = GAP_SIMILARITY) -> list[dict[str, Any]]:
    """Questions grouped by meaning, biggest group first: {label, count, examples, answer_ids, nearest_lessons}.

    Greedy single pass over the embeddings: a question joins the closest group whose centre is at least
    `similarity` away, else starts one. The label is the group's most central question."""
    if not rows:
        return []
    texts = [r["standalone_question"] or r["question"] for r in rows]
    vectors = np.asarray(embedder.encode(texts), dtype=np.float32)
    centres: list[np.ndarray] = []
    members: list[list[int]] = []
    for i, vector in enumerate(vectors):
        if centres:
            scores = np.stack(centres) @ vector
            best = int(np.argmax(scores))
            if scores[best] >= similarity:
                members[best].append(i)
                centre = vectors[members[best]].mean(axis=0)
                centres[best] = centre / (np.linalg.norm(centre) or 1.0)
                continue
        centres.append(vector)
        members.append([i])
    groups = []
    for centre, indexes in zip(centres, members):
        central = max(indexes, key=lambda i: float(vectors[i] @ centre))
        examples: list[str] = []
        for i in [central, *indexes]:
            if rows[i]["question"] not in examples:
                examples.append(rows[i]["question"])
        lessons: Counter[tuple[str, str]] = Counter()
        for i in indexes:
            for near in rows[i].get("nearest") or []:
                lessons[(near["source"], near["title"])] += 1
        groups.append({
            "label": rows[central]["question"],
            "count": len(indexes),
            "refused": sum(1 for i in indexes if rows[i]["refused"]),
            "examples": examples[:EXAMPLES_PER_GAP],
            "answer_ids": [rows[i]["answer_id"] for i in indexes],
            "nearest_lessons": [{"source": source, "title": title} for (source, title), _ in lessons.most_common(3)],
        })
    groups.sort(key=lambda g: (-g["count"], g["label"]))
    return groups


def summary(store: InteractionStore, settings: Settings, embedder: TextEmbedder | None, *, since: datetime | None = None,
            until: datetime | None = None, channel: str | None = None, lesson: str | None = None,
            course_lessons: dict[str, str] | None = None) -> dict[str, Any]:
    """Everything the dashboard and `course-guide insights` show, as one JSON-able object.

    `course_lessons` (source -> title) lets it list the lessons that no question reached."""
    rows, total = store.questions(since=since, until=until, channel=channel, lesson=lesson, limit=None)
    refused = sum(1 for r in rows if r["refused"])
    helpful = sum(1 for r in rows if r["helpful"] is True)
    not_helpful = [r for r in rows if r["helpful"] is False]
    per_day: Counter[str] = Counter(r["asked_at"][:10] for r in rows)
    refused_per_day: Counter[str] = Counter(r["asked_at"][:10] for r in rows if r["refused"])
    cited: Counter[tuple[str, str]] = Counter()
    reached: set[str] = set()
    for r in rows:
        for source in r["sources"]:
            cited[(source["source"], source["section"])] += 1
            reached.add(source["source"])
        if r["lesson"]:
            reached.add(r["lesson"])
    candidates = [r for r in rows if low_confidence(r, settings)][:GAP_QUESTIONS_READ]
    gaps = gap_groups(candidates, embedder) if embedder is not None else []
    return {
        "since": since.isoformat(timespec="seconds") if since else None,
        "until": until.isoformat(timespec="seconds") if until else None,
        "questions": total,
        "refused": refused,
        "refusal_rate": round(refused / total, 4) if total else None,
        "learners": store.learners(since=since, until=until, channel=channel, lesson=lesson),
        "feedback": {"helpful": helpful, "not_helpful": len(not_helpful)},
        "channels": dict(Counter(r["channel"] for r in rows).most_common()),
        "lessons": dict(Counter(r["lesson"] or "(no lesson hint)" for r in rows).most_common()),
        "per_day": [{"day": day, "questions": per_day[day], "refused": refused_per_day[day]} for day in sorted(per_day)],
        "gaps": [{k: v for k, v in g.items() if k != "answer_ids"} | {"answer_ids": g["answer_ids"][:50]} for g in gaps],
        "not_helpful": [{k: r[k] for k in ("answer_id", "asked_at", "channel", "lesson", "question", "answer", "sources", "comment")}
                        for r in not_helpful],
        "most_cited": [{"source": s, "section": sec, "count": n} for (s, sec), n in cited.most_common(10)],
        "lessons_known": bool(course_lessons),
        "unreached_lessons": [{"source": s, "title": t} for s, t in sorted((course_lessons or {}).items()) if s not in reached],
        "recent": rows[:200],
    }


def eval_lines(rows: list[dict[str, Any]]) -> str:
    """Recorded questions as eval dataset lines (eval/datasets/dev.jsonl's format), marked for review.

    The cited source is the expected one; a refusal becomes an out_of_scope case. The reference answer and the
    key facts are left for the instructor to write: `notes` says so, and `course-guide eval` reads the lines as they are."""
    lines = []
    for row in rows:
        out_of_scope = row["refused"]
        sources = [] if out_of_scope else [{"source": s["source"], "section": s["section"]} | ({"page": s["page"]} if s.get("page") else {})
                                           for s in row["sources"][:1]]
        case = {
            "id": f"learner-{row['answer_id'][:8]}",
            "question": row["question"],
            "reference_answer": "" if out_of_scope else row["answer"],
            "must_include": [],
            "sources": sources,
            "type": "out_of_scope" if out_of_scope else "factual",
            "topic": "learner questions",
            "notes": "REVIEW: a real learner's question from the insights dashboard"
                     + (f" (marked not helpful: {row['comment']})" if row.get("helpful") is False and row.get("comment") else
                        " (marked not helpful)" if row.get("helpful") is False else "")
                     + "; check the expected source and write the reference answer and must_include.",
        }
        lines.append(json.dumps(case, ensure_ascii=False))
    return "".join(line + "\n" for line in lines)
