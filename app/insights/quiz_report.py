"""The instructor's quiz page: attempts per lesson, the items most often missed with their most common wrong replies,
and beside each the share of misses that gave the right answer in other words (a reply close in meaning to the answer,
graded wrong or partly): many misses and few such replies point to a hard item, many such replies to a badly graded one;
and the gradings learners disputed."""
from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from jinja2 import Environment, select_autoescape

from app.insights import progress
from app.insights.store import InteractionStore
from core.model import TextEmbedder
from core.quiz import QuizItem
from core.text import normalise_space

# A missed reply at least this close to the answer (cosine, the course's embedder) reads as the right answer in other words.
OTHER_WORDS_SIMILARITY = 0.7
MOST_MISSED = 20
MOST_DISPUTED = 50


def quiz_summary(store: InteractionStore, items: dict[str, QuizItem], embedder: TextEmbedder | None) -> dict[str, Any]:
    rows = progress.attempts(store)
    lessons: dict[str, dict[str, Any]] = {}
    by_item: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        lesson = lessons.setdefault(row["lesson"], {"lesson": row["lesson"], "attempts": 0, "correct": 0, "learners": set()})
        lesson["attempts"] += 1
        lesson["correct"] += row["verdict"] == "correct"
        lesson["learners"].add(row["learner"])
        by_item.setdefault(row["item_id"], []).append(row)
    per_lesson = [{**v, "learners": len(v["learners"]), "share_correct": v["correct"] / v["attempts"]}
                  for v in sorted(lessons.values(), key=lambda v: v["lesson"])]
    missed_items = []
    for item_id, answers in by_item.items():
        missed = [a for a in answers if a["verdict"] != "correct"]
        if not missed:
            continue
        item = items.get(item_id)
        wrong = Counter(normalise_space(a["reply"]).lower() for a in missed if a["reply"].strip())
        other_words = 0
        if item is not None and embedder is not None and item.type == "short_answer":
            replies = [a["reply"] for a in missed if a["reply"].strip()]
            if replies:
                vectors = embedder.encode([item.answer, *replies])
                other_words = int(sum(float(np.dot(vectors[0], v)) >= OTHER_WORDS_SIMILARITY for v in vectors[1:]))
        missed_items.append({"item_id": item_id, "question": item.question if item else item_id, "answer": item.answer if item else "",
                             "lesson": answers[0]["lesson"], "attempts": len(answers), "missed": len(missed),
                             "share_missed": len(missed) / len(answers), "other_words": other_words,
                             "share_other_words": other_words / len(missed), "wrong_replies": wrong.most_common(3),
                             "disputed": sum(a["disputed"] for a in missed)})
    missed_items.sort(key=lambda i: (-i["share_missed"], -i["missed"], i["item_id"]))
    disputed = [{"question": items[r["item_id"]].question if r["item_id"] in items else r["item_id"],
                 "answer": items[r["item_id"]].answer if r["item_id"] in items else "", "lesson": r["lesson"], "reply": r["reply"],
                 "verdict": r["verdict"], "comment": r["dispute_comment"], "answered_at": r["answered_at"]}
                for r in reversed(rows) if r["disputed"]]
    return {"attempts": len(rows), "learners": len({r["learner"] for r in rows}), "lessons": per_lesson,
            "missed": missed_items[:MOST_MISSED], "disputed": disputed[:MOST_DISPUTED]}


_PAGE = Environment(autoescape=select_autoescape(default_for_string=True)).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Quiz insights: {{ course }}</title>
<style>
body { margin: 0; font: 15px/1.5 system-ui, "DejaVu Sans", sans-serif; color: #0f172a; background: #f1f5f9; }
header { background: #0f172a; color: #f8fafc; padding: 22px 40px; } header h1 { margin: 0; font-size: 24px; } header a { color: #bfdbfe; }
main { max-width: 1240px; margin: 0 auto; padding: 8px 40px 60px; } h2 { font-size: 20px; margin: 28px 0 4px; }
.lead { color: #475569; margin-top: 0; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid #e2e8f0; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid #e2e8f0; vertical-align: top; font-size: 14px; }
th { background: #f8fafc; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
ul { margin: 0; padding-left: 18px; } .empty { color: #475569; }
</style></head><body>
<header><h1>Quiz insights: {{ course }}</h1><p>{{ s.attempts }} graded replies from {{ s.learners }} learners · <a href="{{ root }}/instructor">Back to the dashboard</a></p></header>
<main>
<section><h2>Attempts per lesson</h2>
{% if s.lessons %}<table><tr><th>Lesson</th><th>Attempts</th><th>Learners</th><th>Share correct</th></tr>
{% for l in s.lessons %}<tr><td>{{ titles.get(l.lesson, l.lesson) }}</td><td class="num">{{ l.attempts }}</td><td class="num">{{ l.learners }}</td><td class="num">{{ (100 * l.share_correct)|round|int }}%</td></tr>
{% endfor %}</table>{% else %}<p class="empty">No quiz replies are stored yet.</p>{% endif %}</section>
<section><h2>Most missed items</h2>
<p class="lead">An item most learners miss is either hard or badly written. “Right in other words” counts missed replies that say the answer in other words (close in meaning to it): many of those mean the grading, not the learners, is at fault.</p>
{% if s.missed %}<table><tr><th>Question</th><th>Answer</th><th>Missed</th><th>Right in other words</th><th>Disputed</th><th>Most common wrong replies</th></tr>
{% for i in s.missed %}<tr><td>{{ i.question }}<br><small>{{ titles.get(i.lesson, i.lesson) }}</small></td><td>{{ i.answer }}</td>
<td class="num">{{ (100 * i.share_missed)|round|int }}% of {{ i.attempts }}</td><td class="num">{{ (100 * i.share_other_words)|round|int }}% ({{ i.other_words }})</td>
<td class="num">{{ i.disputed }}</td>
<td><ul>{% for reply, n in i.wrong_replies %}<li>“{{ reply }}” × {{ n }}</li>{% endfor %}</ul></td></tr>
{% endfor %}</table>{% else %}<p class="empty">No item has been missed yet.</p>{% endif %}</section>
<section id="disputed"><h2>Disputed gradings</h2>
<p class="lead">Replies whose learners said “I think my answer was right”, newest first. The grade stands until you change the item or its answer.</p>
{% if s.disputed %}<table><tr><th>Question</th><th>Answer</th><th>Reply</th><th>Graded</th><th>Learner's comment</th><th>When</th></tr>
{% for d in s.disputed %}<tr><td>{{ d.question }}<br><small>{{ titles.get(d.lesson, d.lesson) }}</small></td><td>{{ d.answer }}</td><td>“{{ d.reply }}”</td>
<td>{{ d.verdict }}</td><td>{{ d.comment or "" }}</td><td class="num">{{ d.answered_at[:16].replace("T", " ") }}</td></tr>
{% endfor %}</table>{% else %}<p class="empty">No learner has disputed a grading yet.</p>{% endif %}</section>
</main></body></html>""")


def render_quiz_page(summary: dict[str, Any], course: str, titles: dict[str, str], root: str = "") -> str:
    return _PAGE.render(s=summary, course=course, titles=titles, root=root)
