"""Eval datasets: read a JSONL file of questions with their gold answers and sources, reporting bad lines by number and keeping the rest."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from core.files import explain, json_lines
from core.types import SECTION_SEPARATOR

CaseType = Literal["factual", "paraphrase", "lookup", "multi-section", "follow-up", "out_of_scope"]
CASE_TYPES: tuple[str, ...] = get_args(CaseType)
OUT_OF_SCOPE = "out_of_scope"


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


class HistoryTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: StrictStr


class SourceLine(BaseModel):
    """A gold source as written in a dataset line."""

    model_config = ConfigDict(extra="forbid")
    source: StrictStr
    section: StrictStr | None = None
    page: StrictInt | None = None

    @field_validator("source", "section")
    @classmethod
    def _not_blank(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not value.strip():
            raise ValueError(f"a source's '{info.field_name}' must be a non-empty string")
        return value.strip() if value is not None else None

    @field_validator("page")
    @classmethod
    def _page_number(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"a source's 'page' must be a page number from 1; got {value}")
        return value


class CaseLine(BaseModel):
    """One line of an eval dataset, as the user writes it (README, 'The dataset')."""

    model_config = ConfigDict(extra="forbid")
    id: StrictStr | StrictInt
    question: StrictStr
    reference_answer: StrictStr
    must_include: list[list[StrictStr]]
    sources: list[SourceLine]
    type: CaseType
    topic: StrictStr
    history: list[HistoryTurn] | None = None
    synthetic: StrictBool = False
    generator: StrictStr | None = None
    notes: StrictStr | None = None

    @field_validator("must_include", mode="before")
    @classmethod
    def _facts_shape(cls, value: Any) -> Any:
        shape = "'must_include' must be a list of key facts, each a list of alternatives, e.g. [[\"data drift\", \"drift\"]]"
        if not isinstance(value, list):
            raise ValueError(f"{shape}; got {type(value).__name__}")
        for fact in value:
            if not isinstance(fact, list) or not fact or not all(isinstance(a, str) and a.strip() for a in fact):
                raise ValueError(f"{shape}; got {json.dumps(fact)}")
        return [[a.strip() for a in fact] for fact in value]

    @field_validator("sources", mode="before")
    @classmethod
    def _sources_shape(cls, value: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError(f"'sources' must be a list of {{\"source\": file, \"section\"?: section path, \"page\"?: PDF page}}; got {type(value).__name__}")
        return value

    @field_validator("id", "question", "topic")
    @classmethod
    def _filled(cls, value: str | int, info: ValidationInfo) -> str:
        text = str(value).strip()
        if not text:
            raise ValueError(f"'{info.field_name}' is empty")
        return text

    @model_validator(mode="after")
    def _consistent(self) -> CaseLine:
        if self.type == OUT_OF_SCOPE and self.sources:
            raise ValueError("an out_of_scope case expects a refusal, so its 'sources' must be []")
        if self.type != OUT_OF_SCOPE and not self.sources:
            raise ValueError("an answerable case needs at least one gold source in 'sources'")
        if self.type != OUT_OF_SCOPE and not self.reference_answer.strip():
            raise ValueError("'reference_answer' is empty")
        if self.type == "follow-up" and not self.history:
            raise ValueError("a follow-up case needs the conversation before it in 'history'")
        return self

    def case(self, line: int = 0) -> EvalCase:
        return EvalCase(
            id=str(self.id), question=self.question, reference_answer=self.reference_answer.strip(),
            must_include=self.must_include,
            sources=[GoldSource(s.source, s.section, s.page) for s in self.sources],
            type=self.type, topic=self.topic,
            history=[turn.model_dump() for turn in self.history] if self.history else None,
            synthetic=self.synthetic, line=line,
        )


def parse_case(record: Any, line: int = 0) -> EvalCase:
    """One case from its JSON object, or CaseError naming the first thing wrong with it."""
    try:
        return CaseLine.model_validate(record).case(line)
    except ValidationError as err:
        message = explain(err)
        if message.startswith("unknown field(s)"):
            message += f"; known fields: {', '.join(CaseLine.model_fields)}"
        raise CaseError(message) from None


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
    for line in json_lines(text.splitlines()):
        number, record = line.number, line.value
        if line.error is not None:
            problems.append(DatasetProblem(number, None, line.error))
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
