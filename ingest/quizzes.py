"""Instructor-written quiz items: read the YAML files in the course's quizzes/ folder, validate each item, link it to its passage."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo, field_validator, model_validator

from core.files import explain
from core.quiz import CHOICE_LETTERS, ITEM_TYPES, MAX_CHOICES, TRUE_FALSE_CHOICES, QuizItem
from core.text import content_words
from core.types import SECTION_SEPARATOR, Chunk

QUIZ_FOLDER = "quizzes"
QUIZ_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class QuizProblem:
    """An item (or a whole file) that could not be loaded."""

    source: str  # the YAML file, relative to the course folder
    item: int | None  # 1-based position in the file; None for the whole file
    reason: str

    def message(self) -> str:
        where = f"item {self.item}: " if self.item is not None else ""
        return f"{self.source}: {where}{self.reason}"


class _Invalid(ValueError):
    pass


def is_quiz_file(relative: Path) -> bool:
    """A YAML file in the course's top-level quizzes/ folder (not a lesson, so not a skipped document either)."""
    return len(relative.parts) >= 2 and relative.parts[0] == QUIZ_FOLDER and relative.suffix.lower() in QUIZ_SUFFIXES


def list_quiz_files(corpus_dir: Path) -> list[Path]:
    folder = Path(corpus_dir) / QUIZ_FOLDER
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and is_quiz_file(p.relative_to(corpus_dir))
        and not any(part.startswith(".") for part in p.relative_to(corpus_dir).parts)
    )


def _as_text(value: Any, info: ValidationInfo) -> str:
    """YAML reads `answer: 1668` as a number: numbers are fine as text, lists, mappings and yes/no are not."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"'{info.field_name}' must be text, not {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise ValueError(f"'{info.field_name}' is empty")
    return text


Text = Annotated[str, BeforeValidator(_as_text)]


class QuizFileItem(BaseModel):
    """One item of a quiz file, as the instructor writes it (README, 'Quiz mode')."""

    model_config = ConfigDict(extra="forbid")
    id: Text
    type: Text
    question: Text
    answer: Any
    explanation: Text
    lesson: Text
    section: Text
    choices: list[Any] | None = None

    @field_validator("answer")
    @classmethod
    def _answer_given(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("'answer' is empty")
        return value

    @model_validator(mode="after")
    def _answer_fits_type(self) -> QuizFileItem:
        if self.type not in ITEM_TYPES:
            raise ValueError(f"type '{self.type}' is not one of {', '.join(ITEM_TYPES)}")
        if self.type == "multiple_choice":
            if not isinstance(self.choices, list) or not 2 <= len(self.choices) <= MAX_CHOICES:
                raise ValueError(f"a multiple_choice item needs 'choices': a list of 2 to {MAX_CHOICES} answers")
            if any(isinstance(c, bool) or not isinstance(c, (str, int, float)) or not str(c).strip() for c in self.choices):
                raise ValueError("each of 'choices' must be a non-empty text")
            choices = [str(c).strip() for c in self.choices]
            if len({c.lower() for c in choices}) != len(choices):
                raise ValueError("'choices' has the same choice twice")
            if isinstance(self.answer, bool) or not isinstance(self.answer, (str, int, float)):
                raise ValueError("'answer' must be text, not " + type(self.answer).__name__)
            answer = str(self.answer).strip()
            letters = {CHOICE_LETTERS[i]: c for i, c in enumerate(choices)}
            answer = letters.get(answer.upper(), answer)
            if answer not in choices:
                raise ValueError(f"answer '{answer}' is not one of the choices")
            self.choices, self.answer = choices, answer
        elif self.type == "true_false":
            if not isinstance(self.answer, bool):
                raise ValueError("a true_false item's answer must be true or false")
            self.choices, self.answer = list(TRUE_FALSE_CHOICES), TRUE_FALSE_CHOICES[0] if self.answer else TRUE_FALSE_CHOICES[1]
        else:
            if self.choices is not None:
                raise ValueError("a short_answer item has no 'choices'")
            if isinstance(self.answer, bool) or not isinstance(self.answer, (str, int, float)) or not str(self.answer).strip():
                raise ValueError("'answer' must be text")
            self.choices, self.answer = [], str(self.answer).strip()
        return self


def section_chunks(chunks: list[Chunk], section: str) -> list[Chunk]:
    """Chunks of the section a heading names: the section path itself, its last heading, or any heading on its path."""
    wanted = section.strip().lower()
    exact = [c for c in chunks if c.section.lower() == wanted or c.section.lower().split(SECTION_SEPARATOR.lower())[-1] == wanted]
    return exact or [c for c in chunks if wanted in (part.strip() for part in c.section.lower().split(SECTION_SEPARATOR.lower()))]


def best_chunk(candidates: list[Chunk], text: str) -> Chunk:
    """The candidate sharing most content words with `text` (the first one on a tie, so the choice is stable)."""
    words = set(content_words(text))
    return max(candidates, key=lambda c: (len(words & set(content_words(c.text))), -c.ordinal))


def _item(raw: Any, chunks_by_source: dict[str, list[Chunk]], seen: set[str]) -> QuizItem:
    if not isinstance(raw, dict):
        raise _Invalid(f"must be a mapping of fields ({', '.join(QuizFileItem.model_fields)}), not {type(raw).__name__}")
    try:
        written = QuizFileItem.model_validate(raw)
    except ValidationError as err:
        message = explain(err)
        if message.startswith("unknown field(s)"):
            message += f" (allowed: {', '.join(sorted(QuizFileItem.model_fields))})"
        raise _Invalid(message) from None
    if written.id in seen:
        raise _Invalid(f"duplicate id '{written.id}'; give each item its own id")
    lesson, section = written.lesson, written.section
    if lesson not in chunks_by_source:
        raise _Invalid(f"lesson '{lesson}' is not in the index; name a lesson file relative to the course folder")
    in_section = section_chunks(chunks_by_source[lesson], section)
    if not in_section:
        raise _Invalid(f"lesson '{lesson}' has no section '{section}'; use one of its headings")
    chunk = best_chunk(in_section, f"{written.question} {written.answer} {written.explanation}")
    seen.add(written.id)
    return QuizItem(
        id=written.id, type=written.type, question=written.question, answer=str(written.answer), explanation=written.explanation,
        source=chunk.source, section=chunk.section, chunk_id=chunk.id, origin="instructor", choices=list(written.choices or []),
        page=chunk.page,
    )


def load_quiz_file(path: Path, source: str, chunks_by_source: dict[str, list[Chunk]], seen: set[str]) -> tuple[list[QuizItem], list[QuizProblem]]:
    """The valid items of one file and a problem for each bad one; a file that is not YAML gives one problem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        return [], [QuizProblem(source, None, f"cannot be read ({err}); save it as UTF-8 text")]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return [], [QuizProblem(source, None, f"is not valid YAML{where}: {getattr(err, 'problem', None) or err}")]
    if data is None:
        return [], [QuizProblem(source, None, "is empty; add a list of quiz items under 'items:' or remove the file")]
    raw_items = data.get("items") if isinstance(data, dict) else data
    if not isinstance(raw_items, list):
        return [], [QuizProblem(source, None, "must hold a list of quiz items under 'items:'")]
    items: list[QuizItem] = []
    problems: list[QuizProblem] = []
    for number, raw in enumerate(raw_items, start=1):
        try:
            items.append(_item(raw, chunks_by_source, seen))
        except _Invalid as err:
            problems.append(QuizProblem(source, number, str(err)))
    return items, problems


def named_lessons(corpus_dir: Path) -> set[str]:
    """The lesson files the course's quiz files name, read leniently: all of the index that resolving their items
    needs (a bad file or item is reported by load_instructor_items, not here)."""
    named: set[str] = set()
    for path in list_quiz_files(corpus_dir):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        raw_items = data.get("items") if isinstance(data, dict) else data
        for raw in raw_items if isinstance(raw_items, list) else []:
            lesson = raw.get("lesson") if isinstance(raw, dict) else None
            if isinstance(lesson, (str, int, float)) and not isinstance(lesson, bool):
                named.add(str(lesson).strip())  # as the item's Text field reads it
    return named


def load_instructor_items(corpus_dir: Path, chunks: list[Chunk]) -> tuple[list[QuizItem], list[QuizProblem]]:
    """Every valid instructor item of the course, linked to the best chunk of its section, and what was rejected."""
    chunks_by_source: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        chunks_by_source.setdefault(chunk.source, []).append(chunk)
    items: list[QuizItem] = []
    problems: list[QuizProblem] = []
    seen: set[str] = set()
    for path in list_quiz_files(corpus_dir):
        got, bad = load_quiz_file(path, path.relative_to(corpus_dir).as_posix(), chunks_by_source, seen)
        items.extend(got)
        problems.extend(bad)
    return items, problems
