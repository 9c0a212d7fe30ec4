"""The quiz session: plain data the client carries, and each turn as a function of (guide, session, reply) that returns a typed QuizTurn.

Front ends present a turn (the chat and the API's `message` as Markdown, the API as JSON fields); nothing here formats text for one of them."""
from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from app.engine.guide import Guide
from app.quiz.bank import QuizError, checked_llm_item, course_items, quiz_items_for
from app.quiz.grading import grade_reply
from core.quiz import CHOICE_LETTERS, Grade, QuizItem
from core.types import SECTION_SEPARATOR

DEFAULT_QUIZ_LENGTH = 5
_STOP = re.compile(r"^\s*(?:stop|quit|exit|end|done|finish|enough)(?:\s+(?:the\s+)?quiz)?\s*[.!]*\s*$", re.I)


def is_stop(reply: str) -> bool:
    return bool(_STOP.match(reply or ""))


@dataclass
class QuizSession:
    """Where a learner is in a quiz: plain JSON-serialisable data, carried by the client between turns."""

    topic: str | None
    queue: list[str]  # item ids still to ask
    current: str | None = None  # the item id asked last, awaiting a reply
    results: list[dict] = field(default_factory=list)  # {item_id, verdict, score}, in the order answered
    brought_back: list[str] = field(default_factory=list)  # items re-asked because their topic was missed
    finished: bool = False
    # LLM-written items this quiz asks (QuizItem.to_dict()). No replica keeps them, so the session carries them,
    # and each is checked against the index again when it comes back (app.quiz.bank.checked_llm_item).
    items: list[dict] = field(default_factory=list)
    # Made by the server when the quiz starts; a learner's attempts are stored once per (session_id, item).
    session_id: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> QuizSession:
        return cls(**data)

    @property
    def score(self) -> float:
        return sum(r["score"] for r in self.results)

    def total(self) -> int:
        return len(self.results) + len(self.queue) + (1 if self.current and not self.finished else 0)


@dataclass(frozen=True)
class PassageLink:
    """Where to reread: the passage's label and its path in the app (relative, like the chat's citations)."""

    label: str
    path: str | None  # None when the passage is no longer in the index

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "path": self.path}


@dataclass(frozen=True)
class AskedQuestion:
    item: QuizItem
    number: int
    total: int

    @property
    def lesson(self) -> str:
        return self.item.section.split(SECTION_SEPARATOR)[0]

    def to_dict(self) -> dict[str, Any]:
        item = self.item
        choices = item.choices if item.type != "short_answer" else []
        return {"item_id": item.id, "type": item.type, "question": item.question, "choices": choices,
                "letters": list(CHOICE_LETTERS[: len(choices)]) if item.type == "multiple_choice" else [],
                "number": self.number, "total": self.total, "lesson": self.lesson}


@dataclass(frozen=True)
class Feedback:
    """How the reply to one question was graded, with the right answer and the passage to reread."""

    item: QuizItem
    grade: Grade
    reread: PassageLink

    @property
    def answer_label(self) -> str:
        if self.item.type == "multiple_choice":
            return f"{self.item.choice_letter(self.item.answer)}. {self.item.answer}"
        return self.item.answer

    def to_dict(self) -> dict[str, Any]:
        return {**self.grade.to_dict(), "answer": self.answer_label, "explanation": self.item.explanation,
                "reread": self.reread.to_dict()}


@dataclass(frozen=True)
class QuizSummary:
    score: float
    answered: int
    review: list[PassageLink]  # the sections of the missed questions, once each

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "answered": self.answered, "review": [link.to_dict() for link in self.review]}


@dataclass
class QuizTurn:
    """What one quiz step produced, in order: an intro (a new quiz), feedback on the reply, a notice, then the
    next question or the summary. `session` is the state to carry to the next turn."""

    session: QuizSession
    intro: str | None = None
    feedback: Feedback | None = None
    notice: str | None = None
    question: AskedQuestion | None = None
    summary: QuizSummary | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "intro": self.intro,
            "feedback": self.feedback.to_dict() if self.feedback else None,
            "notice": self.notice,
            "question": self.question.to_dict() if self.question else None,
            "summary": self.summary.to_dict() if self.summary else None,
        }


def passage_link(guide: Guide, item: QuizItem) -> PassageLink:
    chunk = next((c for c in guide.index.chunks() if c.id == item.chunk_id), None)
    if chunk is None:
        return PassageLink(item.section, None)
    return PassageLink(chunk.location(), chunk.link(guide.settings.course_path()))


def session_items(guide: Guide, session: QuizSession) -> dict[str, QuizItem]:
    """Every item the session can ask: the course's, and the LLM-written ones it carries that still check out."""
    items = course_items(guide)
    for data in session.items:
        item = checked_llm_item(guide, data)
        if item is not None:
            items.setdefault(item.id, item)
    return items


def start_quiz(guide: Guide, topic: str | None = None, n: int = DEFAULT_QUIZ_LENGTH) -> QuizTurn:
    """A new session on `topic` (None: a mix) and its first question; QuizError if there is nothing to ask."""
    chosen = quiz_items_for(guide, topic, n)
    if not chosen:
        raise QuizError("This course has no quiz questions yet.")
    about = f" on “{topic}”" if topic else ""
    return quiz_of(chosen, topic, f"Here is a quiz{about}: {len(chosen)} questions, one at a time.")


def quiz_of(chosen: list[QuizItem], topic: str | None, intro: str) -> QuizTurn:
    """A new session over the chosen items, in order, and its first question."""
    if not chosen:
        raise QuizError("There are no quiz questions to ask here; say “quiz me” for a mix of the course.")
    session = QuizSession(topic=topic, queue=[i.id for i in chosen[1:]], current=chosen[0].id,
                          items=[i.to_dict() for i in chosen if i.origin == "llm"], session_id=str(uuid.uuid4()))
    return QuizTurn(session, intro=intro, question=AskedQuestion(chosen[0], 1, session.total()))


def _bring_back(session: QuizSession, items: dict[str, QuizItem], missed: QuizItem) -> None:
    """Ask about a missed topic again a little later: another item of the same section if there is one, else the same item."""
    if missed.id in session.brought_back:
        return
    asked = {r["item_id"] for r in session.results} | set(session.queue)
    other = next((i for i in items.values() if i.source == missed.source and i.section == missed.section and i.id not in asked), None)
    again = other or missed
    session.queue.insert(min(2, len(session.queue)), again.id)
    session.brought_back += [missed.id, again.id]


def summary(guide: Guide, session: QuizSession, items: dict[str, QuizItem]) -> QuizSummary:
    missed = [items[r["item_id"]] for r in session.results if r["verdict"] != "correct" and r["item_id"] in items]
    sections: dict[tuple[str, str], QuizItem] = {}
    for item in missed:
        sections.setdefault((item.source, item.section), item)
    return QuizSummary(session.score, len(session.results), [passage_link(guide, item) for item in sections.values()])


def answer_turn(guide: Guide, session: QuizSession, reply: str) -> QuizTurn:
    """Grade the reply to the current question and ask the next one (or end with a summary), in a new session."""
    session = QuizSession.from_dict(session.to_dict())
    items = session_items(guide, session)
    if session.finished or session.current is None:
        session.finished = True
        return QuizTurn(session, notice="The quiz is over.")
    if is_stop(reply):
        session.finished, session.current = True, None
        return QuizTurn(session, summary=summary(guide, session, items))
    turn = QuizTurn(session)
    item = items.get(session.current)
    if item is None:
        # The course was re-indexed mid-quiz and this item is gone: skip it rather than fail.
        turn.notice = "That question is no longer in the course, so it is skipped."
    else:
        grade = grade_reply(item, reply, guide.embedder)
        session.results.append({"item_id": item.id, "verdict": grade.verdict, "score": grade.score})
        turn.feedback = Feedback(item, grade, passage_link(guide, item))
        if grade.verdict != "correct":
            _bring_back(session, items, item)
    while session.queue and session.queue[0] not in items:
        session.queue.pop(0)
    if not session.queue:
        session.finished, session.current = True, None
        turn.summary = summary(guide, session, items)
        return turn
    session.current = session.queue.pop(0)
    turn.question = AskedQuestion(items[session.current], len(session.results) + 1, session.total())
    return turn
