"""The shared model of every quiz-bank format: an item as another platform holds it, what an import skipped, and the
"Reread: lesson > section" line that carries an item's source through formats that have only a feedback text."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.quiz import QuizItem
from core.types import SECTION_SEPARATOR

REREAD_PREFIX = "Reread: "


class FormatError(ValueError):
    """A whole file cannot be read in its format (not XML, not a quiz); the message says what to do."""


@dataclass(frozen=True)
class BankItem:
    """One question as a quiz-bank file holds it: our three types only; anything else is a Skipped.

    `answer` is the right choice's text (multiple choice), "True"/"False" (true/false) or the model answer
    (short answer). `category` is the file's category for it (GIFT `$CATEGORY:`, Moodle XML category), raw;
    `lesson`/`section` come from its "Reread:" feedback line when it has one."""

    type: str
    question: str
    answer: str
    where: str  # "line 12" or "question 3", for messages
    choices: list[str] = field(default_factory=list)
    explanation: str = ""
    id: str | None = None
    category: str | None = None
    lesson: str | None = None
    section: str | None = None

    def label(self) -> str:
        """How a message names the item: its id or title when it has one, and where it is."""
        return f"'{self.id}' ({self.where})" if self.id else self.where


@dataclass(frozen=True)
class Skipped:
    """A question we cannot represent or read, named by where it is and what kind it is."""

    where: str
    kind: str  # e.g. "numerical question", "matching question"
    reason: str

    def message(self) -> str:
        return f"{self.where}: {self.kind}: {self.reason}"


@dataclass
class ParsedBank:
    """What a parser read from a file: the items it can carry and the questions it skipped, in file order."""

    items: list[BankItem] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def add(self, read: BankItem | Skipped) -> None:
        """One question as a parser read it: an item it can carry, or what was skipped and why."""
        if isinstance(read, BankItem):
            self.items.append(read)
        else:
            self.skipped.append(read)


def general_feedback(item: QuizItem) -> str:
    """The feedback every learner sees after answering: the explanation, then the passage to reread."""
    reread = f"{REREAD_PREFIX}{item.source}{SECTION_SEPARATOR}{item.section}"
    return f"{item.explanation}\n{reread}" if item.explanation else reread


def split_feedback(text: str) -> tuple[str, str | None, str | None]:
    """(explanation, lesson, section) from a general feedback that general_feedback wrote; a feedback without a
    "Reread:" last line is all explanation."""
    lines = text.strip().splitlines()
    if lines and lines[-1].startswith(REREAD_PREFIX) and SECTION_SEPARATOR in lines[-1]:
        lesson, section = lines[-1][len(REREAD_PREFIX):].split(SECTION_SEPARATOR, 1)
        return "\n".join(lines[:-1]).strip(), lesson.strip() or None, section.strip() or None
    return text.strip(), None, None


def by_lesson(items: list[QuizItem]) -> dict[str, list[QuizItem]]:
    """Items grouped by lesson file, lessons in name order, items in bank order within each."""
    grouped: dict[str, list[QuizItem]] = {}
    for item in items:
        grouped.setdefault(item.source, []).append(item)
    return dict(sorted(grouped.items()))


def slug(text: str, limit: int = 48) -> str:
    """A lowercase id part from free text: words joined by hyphens, cut at a word boundary."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    out = ""
    for word in words:
        if len(out) + len(word) + 1 > limit:
            break
        out = f"{out}-{word}" if out else word
    return out or "item"


def choice_credit_problem(full: int, right: int, single: bool = True) -> tuple[str, str] | None:
    """(kind, reason) when a choice question's credit cannot be carried: ours has exactly one right choice, worth all."""
    if not single or full > 1 or (full == 0 and right > 1):
        return "multiple-answer question", f"it has {right} right or part-right choices; only one right choice can be carried"
    if full == 1 and right > 1:
        return "multiple choice with partial credit", "choices worth part of the credit cannot be carried"
    if full == 0:
        return "multiple choice without a right answer", "no choice is worth full credit (= or %100%)"
    return None
