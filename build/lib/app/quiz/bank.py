"""The items of a course: instructor items from the index, generated ones, optional LLM-written ones, and picking the items of one quiz."""
from __future__ import annotations

import hashlib
import json
import logging
import re

from app.engine.guide import Guide
from app.engine.llm import LLMError
from app.quiz.generate import generate_items, leaks_answer, supported_by_chunk, synonyms
from core.quiz import CHOICE_LETTERS, TRUE_FALSE_CHOICES, QuizItem
from core.types import Chunk

log = logging.getLogger("course_guide")


class QuizError(ValueError):
    """No quiz can be given (e.g. the topic is not in the course); the message is for the learner."""


# ---------------------------------------------------------------- the items of a course

def course_items(guide: Guide) -> dict[str, QuizItem]:
    """Instructor items (from the index manifest) then generated ones, by id. Generated items are derived from the
    live generation once per generation, so every replica holds the same items under the same ids."""
    manifest = guide.index.refresh()
    generated = guide.derived("quiz_items", lambda: generate_items(guide.index.chunks(), guide.embedder))
    items = {item["id"]: QuizItem.from_dict(item) for item in manifest.quiz_items}
    for item in generated:
        items.setdefault(item.id, item)
    return items


def select_items(guide: Guide, items: dict[str, QuizItem], topic: str | None, n: int) -> list[QuizItem]:
    """Up to n items on the topic (by retrieval over the course), instructor items first; without a topic, a spread over lessons."""
    pool = list(items.values())
    if not topic or not topic.strip():
        by_lesson: dict[str, list[QuizItem]] = {}
        for item in sorted(pool, key=lambda i: (i.origin != "instructor", i.source)):
            by_lesson.setdefault(item.source, []).append(item)
        lessons = list(by_lesson.values())
        spread = [lesson[i] for i in range(max(map(len, lessons), default=0)) for lesson in lessons if i < len(lesson)]
        return _mix_types(_varied(spread, n))
    hits = guide.index.search(guide.embedder.encode([topic])[0], k=12)
    if not hits or hits[0].score < guide.settings.refusal_threshold:
        raise QuizError(f"The course has no quiz questions on “{topic}”. Try a topic from the course contents, or say “quiz me” for a mix.")
    rank_of_chunk = {hit.chunk.id: rank for rank, hit in enumerate(hits) if hit.score >= hits[0].score - 0.15}
    rank_of_section: dict[tuple[str, str], int] = {}
    for hit in hits:
        if hit.chunk.id in rank_of_chunk:
            rank_of_section.setdefault((hit.chunk.source, hit.chunk.section), rank_of_chunk[hit.chunk.id])
    ranked = []
    for item in pool:
        rank = rank_of_chunk.get(item.chunk_id, rank_of_section.get((item.source, item.section)))
        if rank is not None:
            ranked.append((rank, item.origin != "instructor", item))
    ranked.sort(key=lambda r: (r[0], r[1]))
    return _mix_types(_varied([item for *_, item in ranked], n, spread_sections=False))


def _concept(item: QuizItem) -> str:
    """What an item tests: generated items of one term (definition, cloze, choice, true/false) share it."""
    match = re.match(r"^gen-[^-]+-[a-z]+-(.+?)(?:-\d+)?$", item.id)
    return match.group(1) if match and item.origin == "generated" else item.id


def _varied(items: list[QuizItem], n: int, spread_sections: bool = True) -> list[QuizItem]:
    """Up to n items in the given order, one per term; with spread_sections, a section repeats only when the others are used up."""
    chosen: list[QuizItem] = []
    for new_section_only in (True, False) if spread_sections else (False,):
        for item in items:
            if len(chosen) == n:
                return chosen
            if item in chosen or _concept(item) in {_concept(c) for c in chosen}:
                continue
            if new_section_only and (item.source, item.section) in {(c.source, c.section) for c in chosen}:
                continue
            chosen.append(item)
    return chosen


def _mix_types(items: list[QuizItem]) -> list[QuizItem]:
    """Keep the order, but avoid asking the same kind of question twice in a row when another kind is waiting."""
    rest, mixed = list(items), list[QuizItem]()
    while rest:
        pick = next((i for i in rest if not mixed or i.type != mixed[-1].type), rest[0])
        rest.remove(pick)
        mixed.append(pick)
    return mixed


# ---------------------------------------------------------------- items the optional LLM writes

LLM_QUIZ_PROMPT = (
    "You write quiz questions for learners of a course. Use only facts stated in the passage. "
    'Reply with JSON only, in this shape: {"items": [{"type": "multiple_choice" | "true_false" | "short_answer", '
    '"question": "...", "choices": ["...", "..."], "answer": "...", "explanation": "..."}]}. '
    "Write at most 2 items. For multiple_choice give 3 or 4 choices and make the answer one of them; "
    "for true_false the answer is true or false; for short_answer the answer is a short phrase quoted from the passage. "
    "Never put the answer in the question."
)
LLM_ITEMS_PER_QUIZ = 2


def _llm_item(raw: object, chunk: Chunk) -> QuizItem | None:
    """One LLM-written item, or None if it is malformed or fails the checks every generated item passes."""
    if not isinstance(raw, dict):
        return None
    kind, question, explanation = raw.get("type"), raw.get("question"), raw.get("explanation") or ""
    answer, choices = raw.get("answer"), raw.get("choices") or []
    if kind not in ("multiple_choice", "true_false", "short_answer") or not isinstance(question, str) or not question.strip():
        return None
    if not isinstance(explanation, str) or not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        return None
    if kind == "true_false":
        if str(answer).strip().lower() not in ("true", "false"):
            return None
        answer, choices = TRUE_FALSE_CHOICES[0 if str(answer).strip().lower() == "true" else 1], list(TRUE_FALSE_CHOICES)
    elif not isinstance(answer, str) or not answer.strip():
        return None
    elif kind == "multiple_choice":
        letters = {CHOICE_LETTERS[i]: c for i, c in enumerate(choices)}
        answer = letters.get(answer.strip().upper(), answer)
        distractors = [c for c in choices if c != answer]
        if not 3 <= len(choices) <= 5 or answer not in choices or any(synonyms(answer, d) for d in distractors):
            return None
    else:
        choices = []
    # The id covers everything the item says, so an item sent back with any of it changed is not the same item.
    digest = hashlib.sha1("\x1f".join([chunk.id, question, str(answer), *choices]).encode()).hexdigest()[:12]
    item = QuizItem(id=f"llm-{digest}", type=kind, question=question.strip(), answer=answer.strip(),
                    explanation=explanation.strip() or f"See {chunk.location()}.", source=chunk.source, section=chunk.section,
                    chunk_id=chunk.id, origin="llm", choices=choices, page=chunk.page)
    if kind != "true_false" and leaks_answer(item.question, item.answer):
        return None
    return item if supported_by_chunk(item, chunk) else None


def llm_items(guide: Guide, chunk: Chunk) -> list[QuizItem]:
    """Items the LLM writes for one passage, each checked against it (unsupported ones are dropped); [] if it fails.

    They are not kept anywhere: the quiz session that asks them carries them (see QuizSession.items)."""
    if guide.llm is None:
        return []
    messages = [{"role": "system", "content": LLM_QUIZ_PROMPT},
                {"role": "user", "content": f"Passage from “{chunk.location()}”:\n\n{chunk.text}"}]
    try:
        reply = guide.llm.complete(messages)
        data = json.loads(reply[reply.index("{") : reply.rindex("}") + 1])
    except (LLMError, ValueError) as err:
        log.warning("no LLM quiz items for %s: %s", chunk.location(), err)
        return []
    raw_items = data.get("items") if isinstance(data, dict) else None
    return [item for raw in (raw_items if isinstance(raw_items, list) else []) if (item := _llm_item(raw, chunk))]


def checked_llm_item(guide: Guide, data: object) -> QuizItem | None:
    """An LLM-written item as a client sent it back inside its quiz session, re-checked against the index:
    its passage must still be there, and it must pass every check again under the same id. None otherwise."""
    if not isinstance(data, dict) or not isinstance(data.get("chunk_id"), str):
        return None
    chunk = next((c for c in guide.index.chunks() if c.id == data["chunk_id"]), None)
    if chunk is None:
        return None
    raw = {"type": data.get("type"), "question": data.get("question"), "answer": data.get("answer"),
           "choices": data.get("choices"), "explanation": data.get("explanation")}
    item = _llm_item(raw, chunk)
    return item if item is not None and item.id == data.get("id") else None


def quiz_items_for(guide: Guide, topic: str | None, n: int) -> list[QuizItem]:
    """The items of a quiz: with the LLM on and a topic, up to LLM_ITEMS_PER_QUIZ checked LLM items first, then the rest."""
    chosen = select_items(guide, course_items(guide), topic, n)
    if not (guide.llm is not None and topic and chosen):
        return chosen
    by_id = {c.id: c for c in guide.index.chunks()}
    written = [item for chunk_id in dict.fromkeys(i.chunk_id for i in chosen[:2]) for item in llm_items(guide, by_id[chunk_id])]
    written = written[:LLM_ITEMS_PER_QUIZ]
    return (written + [i for i in chosen if i not in written])[:n]
