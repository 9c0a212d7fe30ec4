"""Instructor-written quiz items: read the YAML files in the course's quizzes/ folder, validate each item, link it to its passage."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.quiz import ITEM_TYPES, TRUE_FALSE_CHOICES, QuizItem
from core.text import content_words
from core.types import SECTION_SEPARATOR, Chunk

QUIZ_FOLDER = "quizzes"
QUIZ_SUFFIXES = (".yaml", ".yml")
_REQUIRED = ("id", "type", "question", "answer", "explanation", "lesson", "section")
_ALLOWED = set(_REQUIRED) | {"choices"}


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


def _text(raw: dict, key: str) -> str:
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _Invalid(f"'{key}' must be text, not {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise _Invalid(f"'{key}' is empty")
    return text


def _section_chunks(chunks: list[Chunk], section: str) -> list[Chunk]:
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
        raise _Invalid(f"must be a mapping of fields ({', '.join(_REQUIRED)}), not {type(raw).__name__}")
    missing = [key for key in _REQUIRED if key not in raw or raw[key] is None]
    if missing:
        raise _Invalid(f"missing field(s): {', '.join(missing)}")
    unknown = sorted(str(k) for k in set(raw) - _ALLOWED)
    if unknown:
        raise _Invalid(f"unknown field(s): {', '.join(unknown)} (allowed: {', '.join(sorted(_ALLOWED))})")
    item_id = _text(raw, "id")
    if item_id in seen:
        raise _Invalid(f"duplicate id '{item_id}'; give each item its own id")
    kind = _text(raw, "type")
    if kind not in ITEM_TYPES:
        raise _Invalid(f"type '{kind}' is not one of {', '.join(ITEM_TYPES)}")
    question, explanation = _text(raw, "question"), _text(raw, "explanation")
    choices: list[str] = []
    if kind == "multiple_choice":
        raw_choices = raw.get("choices")
        if not isinstance(raw_choices, list) or not 2 <= len(raw_choices) <= 6:
            raise _Invalid("a multiple_choice item needs 'choices': a list of 2 to 6 answers")
        choices = [_text({"choice": c}, "choice") for c in raw_choices]
        if len(set(c.lower() for c in choices)) != len(choices):
            raise _Invalid("'choices' has the same choice twice")
        answer = _text(raw, "answer")
        letters = {"ABCDEF"[i]: c for i, c in enumerate(choices)}
        answer = letters.get(answer.upper(), answer)
        if answer not in choices:
            raise _Invalid(f"answer '{answer}' is not one of the choices")
    elif kind == "true_false":
        value = raw["answer"]
        if not isinstance(value, bool):
            raise _Invalid("a true_false item's answer must be true or false")
        answer, choices = TRUE_FALSE_CHOICES[0] if value else TRUE_FALSE_CHOICES[1], list(TRUE_FALSE_CHOICES)
    else:
        if "choices" in raw:
            raise _Invalid("a short_answer item has no 'choices'")
        answer = _text(raw, "answer")
    lesson, section = _text(raw, "lesson"), _text(raw, "section")
    if lesson not in chunks_by_source:
        raise _Invalid(f"lesson '{lesson}' is not in the index; name a lesson file relative to the course folder")
    in_section = _section_chunks(chunks_by_source[lesson], section)
    if not in_section:
        raise _Invalid(f"lesson '{lesson}' has no section '{section}'; use one of its headings")
    chunk = best_chunk(in_section, f"{question} {answer} {explanation}")
    seen.add(item_id)
    return QuizItem(
        id=item_id, type=kind, question=question, answer=answer, explanation=explanation, source=chunk.source,
        section=chunk.section, chunk_id=chunk.id, origin="instructor", choices=choices, page=chunk.page,
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
