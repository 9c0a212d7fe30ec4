"""Quiz types shared by ingest, the quiz logic, the chat and the CLI: QuizItem and Grade."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ITEM_TYPES = ("multiple_choice", "true_false", "short_answer")
ORIGINS = ("instructor", "generated", "llm")
VERDICTS = ("correct", "partly", "wrong")
TRUE_FALSE_CHOICES = ["True", "False"]
# Multiple-choice letters, as shown to learners and accepted in replies.
CHOICE_LETTERS = "ABCDEFGH"
# Most choices an instructor item may offer.
MAX_CHOICES = 6


@dataclass(frozen=True)
class QuizItem:
    """One quiz question with its answer and the passage it tests (for the citation).

    For multiple choice and true/false, `answer` is the text of the right choice; for short answers it is
    the model answer a reply is compared with."""

    id: str
    type: str  # one of ITEM_TYPES
    question: str
    answer: str
    explanation: str
    source: str  # lesson file, relative to the course folder
    section: str  # section path, as in Chunk.section
    chunk_id: str  # the passage cited when the item is graded
    origin: str  # one of ORIGINS
    choices: list[str] = field(default_factory=list)
    page: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of `course-guide quiz --json`."""
        data = asdict(self)
        order = ["id", "type", "question", "choices", "answer", "explanation", "source", "section", "page", "chunk_id", "origin"]
        return {key: data[key] for key in order}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuizItem:
        return cls(**{**data, "choices": list(data.get("choices") or [])})

    def choice_letter(self, choice: str) -> str:
        return CHOICE_LETTERS[self.choices.index(choice)]


@dataclass(frozen=True)
class Grade:
    """How one reply to one item was graded: a score from 0 to 1, a verdict, and why."""

    item_id: str
    score: float
    verdict: str  # one of VERDICTS
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "score": round(self.score, 3), "verdict": self.verdict, "reason": self.reason}
