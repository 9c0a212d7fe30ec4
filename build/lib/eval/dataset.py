"""Eval datasets: read a JSONL file of questions with their gold answers and sources, reporting bad lines by number and keeping the rest."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.types import SECTION_SEPARATOR

CASE_TYPES = ("factual", "paraphrase", "lookup", "multi-section", "follow-up", "out_of_scope")
OUT_OF_SCOPE = "out_of_scope"
REQUIRED_FIELDS = ("id", "question", "reference_answer", "must_include", "sources", "type", "topic")
# Fields a case may carry besides the required ones; anything else is most likely a misspelt field name.
OPTIONAL_FIELDS = ("history", "synthetic", "generator", "notes")


class DatasetError(ValueError):
    """A dataset file that cannot be used at all (missing, unreadable, or without one good case)."""


class CaseError(ValueError):
    """One line of a dataset that is not a valid case; the message says what to fix."""


@dataclass(frozen=True)
class GoldSource:
    """A passage an answer should come from: a course file, optionally narrowed to a section (prefix) or a PDF page."""

    source: str
    section: str | None = None
    page: int | None = None

    def matches(self, source: str, section: str, page: int | None) -> bool:
        """Whether a chunk at (source, section, page) lies inside this gold passage."""
        if source != self.source:
            return False
        if self.section is not None and not _section_within(section, self.section):
            return False
        return self.page is None or page == self.page

    def label(self) -> str:
        parts = [self.source]
        if self.section:
            parts.append(self.section)
        if self.page is not None:
            parts.append(f"page {self.page}")
        return SECTION_SEPARATOR.join(parts)

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"source": self.source}
        if self.section is not None:
            record["section"] = self.section
        if self.page is not None:
            record["page"] = self.page
        return record


def _section_within(section: str, prefix: str) -> bool:
    """'A > B > C' lies within 'A > B' and 'A > B' itself, but not within 'A > Bx'."""
    section, prefix = section.strip(), prefix.strip()
    return section == prefix or section.startswith(prefix + SECTION_SEPARATOR)


@dataclass(frozen=True)
class EvalCase:
    """One question of a dataset with what a good answer must contain and where it must come from."""

    id: str
    question: str
    reference_answer: str
    must_include: list[list[str]]  # key facts; each is a list of acceptable alternatives
    sources: list[GoldSource]
    type: str
    topic: str
    history: list[dict[str, str]] | None = None
    synthetic: bool = False
    line: int = 0  # line number in the dataset file

    @property
    def in_scope(self) -> bool:
        return self.type != OUT_OF_SCOPE

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": self.id,
            "question": self.question,
            "reference_answer": self.reference_answer,
            "must_include": self.must_include,
            "sources": [s.to_dict() for s in self.sources],
            "type": self.type,
            "topic": self.topic,
        }
        if self.history:
            record["history"] = self.history
        if self.synthetic:
            record["synthetic"] = True
        return record


@dataclass(frozen=True)
class DatasetProblem:
    """A line that was left out of the run, and why."""

    line: int
    case_id: str | None
    message: str

    def __str__(self) -> str:
        named = f" (id {self.case_id})" if self.case_id else ""
        return f"line {self.line}{named}: {self.message}"


@dataclass
class Dataset:
    path: Path
    cases: list[EvalCase]
    problems: list[DatasetProblem] = field(default_factory=list)


def _text(record: dict, name: str, *, allow_empty: bool = False) -> str:
    value = record[name]
    if not isinstance(value, str):
        raise CaseError(f"'{name}' must be a string, not {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise CaseError(f"'{name}' is empty")
    return value.strip()


def _must_include(value: Any) -> list[list[str]]:
    shape = "'must_include' must be a list of key facts, each a list of alternatives, e.g. [[\"data drift\", \"drift\"]]"
    if not isinstance(value, list):
        raise CaseError(f"{shape}; got {type(value).__name__}")
    facts = []
    for fact in value:
        if not isinstance(fact, list) or not fact or not all(isinstance(a, str) and a.strip() for a in fact):
            raise CaseError(f"{shape}; got {json.dumps(fact)}")
        facts.append([a.strip() for a in fact])
    return facts


def _sources(value: Any) -> list[GoldSource]:
    shape = "'sources' must be a list of {\"source\": file, \"section\"?: section path, \"page\"?: PDF page}"
    if not isinstance(value, list):
        raise CaseError(f"{shape}; got {type(value).__name__}")
    gold = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("source"), str) or not item["source"].strip():
            raise CaseError(f"{shape}; got {json.dumps(item)}")
        unknown = set(item) - {"source", "section", "page"}
        if unknown:
            raise CaseError(f"{shape}; unknown key(s) {sorted(unknown)} in {json.dumps(item)}")
        section, page = item.get("section"), item.get("page")
        if section is not None and (not isinstance(section, str) or not section.strip()):
            raise CaseError(f"a source's 'section' must be a non-empty string; got {json.dumps(section)}")
        # bool is an int in Python; a page of `true` is a typo, not page 1.
        if page is not None and (isinstance(page, bool) or not isinstance(page, int) or page < 1):
            raise CaseError(f"a source's 'page' must be a page number from 1; got {json.dumps(page)}")
        gold.append(GoldSource(item["source"].strip(), section.strip() if section else None, page))
    return gold


def _history(value: Any) -> list[dict[str, str]] | None:
    if value is None:
        return None
    ok = isinstance(value, list) and all(
        isinstance(m, dict) and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str) for m in value
    )
    if not ok:
        raise CaseError("'history' must be a list of {\"role\": \"user\"|\"assistant\", \"content\": text} messages")
    return [{"role": m["role"], "content": m["content"]} for m in value]


def parse_case(record: Any, line: int = 0) -> EvalCase:
    """One case from its JSON object, or CaseError naming the first thing wrong with it."""
    if not isinstance(record, dict):
        raise CaseError(f"expected a JSON object, got {type(record).__name__}")
    missing = [name for name in REQUIRED_FIELDS if name not in record]
    if missing:
        raise CaseError(f"missing field(s) {', '.join(missing)}")
    unknown = sorted(set(record) - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS))
    if unknown:
        raise CaseError(f"unknown field(s) {', '.join(unknown)}; known fields: {', '.join(REQUIRED_FIELDS + OPTIONAL_FIELDS)}")
    case_type = record["type"]
    if case_type not in CASE_TYPES:
        raise CaseError(f"'type' is {json.dumps(case_type)}; it must be one of {', '.join(CASE_TYPES)}")
    synthetic = record.get("synthetic", False)
    if not isinstance(synthetic, bool):
        raise CaseError(f"'synthetic' must be true or false, not {json.dumps(synthetic)}")
    case_id = record["id"]
    if not isinstance(case_id, (str, int)) or isinstance(case_id, bool) or not str(case_id).strip():
        raise CaseError("'id' must be a non-empty string")
    sources = _sources(record["sources"])
    if case_type == OUT_OF_SCOPE and sources:
        raise CaseError("an out_of_scope case expects a refusal, so its 'sources' must be []")
    if case_type != OUT_OF_SCOPE and not sources:
        raise CaseError("an answerable case needs at least one gold source in 'sources'")
    history = _history(record.get("history"))
    if case_type == "follow-up" and not history:
        raise CaseError("a follow-up case needs the conversation before it in 'history'")
    return EvalCase(
        id=str(case_id).strip(),
        question=_text(record, "question"),
        reference_answer=_text(record, "reference_answer", allow_empty=case_type == OUT_OF_SCOPE),
        must_include=_must_include(record["must_include"]),
        sources=sources,
        type=case_type,
        topic=_text(record, "topic"),
        history=history,
        synthetic=synthetic,
        line=line,
    )


def load_dataset(path: Path) -> Dataset:
    """Every valid case of a JSONL file; each bad line becomes a DatasetProblem and the rest are kept."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"No dataset file at {path}. Pass --dataset with a JSONL file (see README, 'Evaluating answers').") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"Cannot read the dataset {path}: {err}. Save it as UTF-8 JSONL.") from None
    cases: list[EvalCase] = []
    problems: list[DatasetProblem] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            problems.append(DatasetProblem(number, None, f"not valid JSON ({err.msg} at column {err.colno})"))
            continue
        raw_id = record.get("id") if isinstance(record, dict) else None
        case_id = str(raw_id) if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) else None
        try:
            case = parse_case(record, number)
        except CaseError as err:
            problems.append(DatasetProblem(number, case_id, str(err)))
            continue
        if case.id in seen:
            problems.append(DatasetProblem(number, case.id, f"duplicate id; line {seen[case.id]} already uses it"))
            continue
        seen[case.id] = number
        cases.append(case)
    if not cases:
        reason = f" ({len(problems)} bad line(s), the first: {problems[0]})" if problems else " (the file is empty)"
        raise DatasetError(f"No usable case in {path}{reason}.")
    return Dataset(path, cases, problems)
