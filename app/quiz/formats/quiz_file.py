"""Imported items as our own quiz file (corpus/quizzes/NAME.yaml, read by ingest/quizzes.py): each on a lesson of the
index, linked to a section (its own, or the best-matching passage of the lesson), with a unique id, checked by ingest's model."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import yaml
from pydantic import ValidationError

from app.quiz.formats.model import BankItem, ParsedBank, Skipped, slug
from core.files import explain
from core.types import Chunk
from ingest.quizzes import QuizFileItem, best_chunk, section_chunks


class ImportProblem(ValueError):
    """The import as a whole cannot go on (an item with no lesson); the message names the item and what to do."""


@dataclass
class QuizFile:
    """The items of the quiz file to write, as ingest reads them, and the questions left out."""

    items: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def to_yaml(self, origin: str) -> str:
        header = f"# Imported by `course-guide quiz import` from {origin}. Edit freely; ingest checks every item.\n"
        return header + yaml.safe_dump({"items": self.items}, sort_keys=False, allow_unicode=True, width=120)


def lesson_named(category: str | None, lessons: set[str]) -> str | None:
    """The lesson file a category names: the whole path or its last parts (`$course$/top/Week 2/09-x.md` names `09-x.md`)."""
    if not category:
        return None
    parts = [part.strip() for part in category.replace("\\", "/").split("/") if part.strip()]
    for start in range(len(parts)):
        candidate = PurePosixPath(*parts[start:]).as_posix()
        if candidate in lessons:
            return candidate
    return None


def _lesson(item: BankItem, lessons: set[str], default: str | None) -> str:
    for candidate in (lesson_named(item.category, lessons), item.lesson if item.lesson in lessons else None, default):
        if candidate:
            return candidate
    named = f"; its category '{item.category}' names no lesson file of the course" if item.category else ""
    raise ImportProblem(f"Item {item.label()} has no lesson{named}. Put a `$CATEGORY: lesson-file` line above it (GIFT), "
                        "or pass --lesson FILE for items without one.")


def _section(item: BankItem, chunks: list[Chunk]) -> str:
    """Its own section when that is a heading of the lesson, else the section of the lesson's best-matching passage."""
    if item.section and section_chunks(chunks, item.section):
        return item.section
    return best_chunk(chunks, f"{item.question} {item.answer} {item.explanation}").section


def _unique_id(item: BankItem, lesson: str, taken: set[str]) -> str:
    base = (item.id or "").strip() or f"{slug(PurePosixPath(lesson).stem, 24)}-{slug(item.question)}"
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    taken.add(candidate)
    return candidate


def quiz_file(bank: ParsedBank, chunks_by_source: dict[str, list[Chunk]], default_lesson: str | None,
              taken_ids: set[str] | None = None) -> QuizFile:
    """Our quiz file for a parsed bank. `default_lesson` (--lesson) is for items whose category names no lesson;
    `taken_ids` are ids other quiz files of the course already use. An item ingest would reject is skipped, with why."""
    lessons = set(chunks_by_source)
    if default_lesson is not None and default_lesson not in lessons:
        raise ImportProblem(f"--lesson {default_lesson!r} is not a lesson of the course index; name a lesson file "
                            f"relative to the course folder, e.g. {sorted(lessons)[0]!r}." if lessons else
                            f"--lesson {default_lesson!r}: the course index has no lessons; run `course-guide ingest` first.")
    out = QuizFile(skipped=list(bank.skipped))
    taken = set(taken_ids or ())
    for item in bank.items:
        lesson = _lesson(item, lessons, default_lesson)
        section = _section(item, chunks_by_source[lesson])
        answer: Any = item.answer == "True" if item.type == "true_false" else item.answer
        record: dict[str, Any] = {"id": "", "type": item.type, "question": item.question}
        if item.type == "multiple_choice":
            record["choices"] = list(item.choices)
        record |= {"answer": answer,
                   "explanation": item.explanation or f"Reread {lesson}, section “{section.split(' > ')[-1]}”.",
                   "lesson": lesson, "section": section}
        try:
            QuizFileItem.model_validate({**record, "id": item.id or "checked"})
        except ValidationError as err:
            out.skipped.append(Skipped(item.where, f"{item.type.replace('_', ' ')} question", explain(err)))
            continue
        record["id"] = _unique_id(item, lesson, taken)
        out.items.append(record)
    return out
