"""The eval run document as typed models: what results.json holds, what the report renders and what a baseline is read back as."""
from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

from eval.metrics import Estimate

# Bump when results.json changes shape; an older run folder then asks to be re-run instead of loading wrongly.
RESULTS_FORMAT = 1


class Record(BaseModel):
    """A part of results.json: unknown keys are an error, and the fields in `_omitted_when_empty` are left out of
    the JSON when None, False or [] (as the dicts of earlier versions did), so the file keeps its shape."""

    model_config = ConfigDict(extra="forbid")
    _omitted_when_empty: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _leave_out_empty(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for name in self._omitted_when_empty:
                value = data.get(name)
                if name in data and (value is None or value is False or value == []):
                    del data[name]
        return data


# --- one case -----------------------------------------------------------------------------------

class GoldSourceRecord(Record):
    """A gold source of a case, as the dataset gave it (section and page only when given)."""

    _omitted_when_empty = frozenset({"section", "page"})
    source: str
    section: str | None = None
    page: int | None = None


class HistoryTurnRecord(Record):
    role: str
    content: str


class CitationRecord(Record):
    """What a marker [n] of the answer points at."""

    _omitted_when_empty = frozenset({"label"})
    n: int
    source: str
    title: str
    section: str
    page: int | None
    url: str
    chunk_id: str
    label: str | None = None  # "cell 3", "slide 7", "at 12:34"; absent from results written before formats had one


class PassageRecord(Record):
    """A passage the guide retrieved for the answer."""

    chunk_id: str
    source: str
    title: str
    section: str
    page: int | None
    score: float
    lexical_score: float
    neighbour_of: str | None
    text: str


class RankedPassageRecord(PassageRecord):
    """A retrieved passage with its rank and whether it comes from a gold source."""

    rank: int
    gold: bool


class ScopeRecord(Record):
    """What the refusal rule saw (ScopeEvidence.to_dict())."""

    best_similarity: float
    covered_similarity: float
    unknown_names: list[str]
    # Since the meaning rule; a results file written before it has neither, and writing it back leaves them out.
    unknown_words: list[str] | None = None
    unknown_meaning: float | None = None
    overrides: bool | None = None  # only in answers the instruction rule refused (ScopeEvidence.overrides)
    _omitted_when_empty: ClassVar[frozenset[str]] = frozenset({"unknown_words", "unknown_meaning", "overrides"})


class AnswerRecord(Record):
    """The answer as the CLI's --json contract gives it (Answer.to_dict())."""

    question: str
    standalone_question: str
    answer: str
    refused: bool
    answerer: str
    notice: str | None
    citations: list[CitationRecord]
    unsupported_sentences: list[str]
    scope: ScopeRecord | None
    retrieved: list[PassageRecord]
    timings_ms: dict[str, float]


class CheckRecord(Record):
    """One pass/fail check of a case, with the reason when it failed."""

    name: str
    label: str
    passed: bool
    why: str


class SentenceRecord(Record):
    """An answer sentence, the passage it cites and whether that passage supports it."""

    text: str
    markers: list[int]
    supported: bool
    chunk_id: str | None
    span: list[int] | None
    overlap: float | None
    similarity: float | None


class FactRecord(Record):
    """A key fact (its accepted alternatives) and whether the answer states it."""

    alternatives: list[str]
    found: bool


class JudgeRating(Record):
    """The LLM judge's ratings of one answer, one value per successful run, and the reasons of failed runs."""

    correctness: list[float] = []
    groundedness: list[float] = []
    errors: list[str] = []
    correctness_text: str = "n/a"
    groundedness_text: str = "n/a"


class CaseRecord(Record):
    """Everything the report shows about one case: the dataset line, the answer, its scores, checks and evidence."""

    _omitted_when_empty = frozenset({"history", "synthetic"})
    id: str
    question: str
    reference_answer: str
    must_include: list[list[str]]
    sources: list[GoldSourceRecord]
    type: str
    topic: str
    history: list[HistoryTurnRecord] | None = None
    synthetic: bool = False
    line: int
    lesson: str
    origin: Literal["hand-written", "synthetic"]
    status: Literal["passed", "failed", "error"]
    error: str | None
    latency_ms: float | None
    refused: bool
    metrics: dict[str, float | None]
    checks: list[CheckRecord]
    answer: AnswerRecord | None
    sentences: list[SentenceRecord]
    retrieved: list[RankedPassageRecord]
    facts: list[FactRecord]
    judge: JudgeRating | None

    @property
    def in_scope(self) -> bool:
        return self.type != "out_of_scope"

    @property
    def failed_checks(self) -> list[CheckRecord]:
        return [c for c in self.checks if not c.passed]


# --- aggregates ---------------------------------------------------------------------------------

class MetricEstimate(Record):
    """A metric over cases with its bootstrap 95% CI and how many cases it covers (value None when none applies)."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int

    @classmethod
    def of(cls, estimate: Estimate) -> MetricEstimate:
        return cls.model_validate(estimate.to_dict())


class SliceGroup(Record):
    """The cases of one value of a slice (one lesson, one type…) and their metrics."""

    n: int
    metrics: dict[str, MetricEstimate]


class Slices(Record):
    """Aggregates per question type, topic, lesson and origin."""

    type: dict[str, SliceGroup]
    topic: dict[str, SliceGroup]
    lesson: dict[str, SliceGroup]
    origin: dict[str, SliceGroup]

    def by(self, dimension: str) -> dict[str, SliceGroup]:
        """The groups of one dimension by name ("type", "topic", "lesson" or "origin")."""
        if dimension not in Slices.model_fields:
            raise KeyError(f"no slice {dimension!r}; slices are {', '.join(Slices.model_fields)}")
        groups: dict[str, SliceGroup] = getattr(self, dimension)
        return groups


class SectionCoverage(Record):
    section: str
    label: str
    questions: int


class LessonCoverage(Record):
    source: str
    title: str
    questions: int
    sections: list[SectionCoverage]


class Coverage(Record):
    """Which lessons and sections of the course the eval questions point at."""

    lessons: list[LessonCoverage]
    uncovered_lessons: list[str]
    sections_total: int
    sections_covered: int
    section_coverage: float | None


# --- the run ------------------------------------------------------------------------------------

class RunSettings(Record):
    top_k: int
    refusal_threshold: float
    max_answer_sentences: int


class RunInfo(Record):
    """When and on what the run ran: the version, the index and the settings that move the scores."""

    started_at: str
    finished_at: str
    course_guide_version: str
    db_dir: str
    index_generation: str
    chunks: int
    lessons: int
    answerers: list[str]
    settings: RunSettings


class DatasetProblemRecord(Record):
    """A dataset line left out of the run, and why."""

    line: int
    id: str | None
    message: str


class DatasetInfo(Record):
    """The dataset file (and its hash, to tell whether two runs asked the same questions)."""

    path: str
    sha256: str
    cases: int
    hand_written: int
    synthetic: int
    problems: list[DatasetProblemRecord]


class JudgeSummary(Record):
    """The LLM judge over the run: how many answers it rated and how much its runs disagree."""

    model: str
    runs: int
    cases: int
    scored: int
    failures: int
    spread: dict[str, float | None]


class BarOutcome(Record):
    """One bar of a thresholds file with the run's value and whether it was met."""

    metric: str
    bar: str
    minimum: float | None
    maximum: float | None
    value: float | None
    passed: bool
    message: str | None


class ThresholdsOutcome(Record):
    file: str
    results: list[BarOutcome]

    @property
    def failed(self) -> list[BarOutcome]:
        return [bar for bar in self.results if not bar.passed]


class MetricDelta(Record):
    """A metric in the baseline and in this run; `compared` is False for machine noise such as latency."""

    baseline: float | None
    current: float | None
    delta: float | None
    compared: bool


class CaseChange(Record):
    """A question whose outcome moved since the baseline; `why` (its first failed check) only for regressions."""

    _omitted_when_empty = frozenset({"why"})
    id: str
    question: str
    before: str
    after: str
    score_before: float
    score_after: float
    change: float
    why: str | None = None


class BaselineComparison(Record):
    """This run against an earlier one: metric deltas and the questions that regressed or improved."""

    run_dir: str
    started_at: str | None
    dataset_sha256: str | None
    same_dataset: bool
    metrics: dict[str, MetricDelta]
    regressed: list[CaseChange]
    improved: list[CaseChange]
    new_cases: list[str]
    dropped_cases: list[str]


class EvalResults(Record):
    """The whole run: what results.json holds, what the report renders and what --baseline reads back."""

    _omitted_when_empty = frozenset({"thresholds", "baseline"})
    format: int  # RESULTS_FORMAT; load_results refuses any other
    run: RunInfo
    dataset: DatasetInfo
    headline: Literal["hand-written", "synthetic"]
    metrics: dict[str, MetricEstimate]
    synthetic_metrics: dict[str, MetricEstimate] | None
    slices: Slices
    coverage: Coverage
    cases: list[CaseRecord]
    judge: JudgeSummary | None = None
    thresholds: ThresholdsOutcome | None = None
    baseline: BaselineComparison | None = None

    def to_json(self) -> str:
        """results.json's text: the same keys and nesting as the dicts of earlier versions wrote."""
        return json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False)
