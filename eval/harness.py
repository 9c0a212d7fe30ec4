"""The eval run: ask every case through the one answer function, score it, aggregate with confidence intervals and slices, and write the run folder."""
from __future__ import annotations

import csv
import functools
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from app.engine.answer import answer_question
from app.engine.guide import Guide
from app.engine.scope import explain
from core.citations import marked_stretches, marker_numbers, strip_markers, support
from core.files import explain as explain_invalid
from core.types import SECTION_SEPARATOR, Answer
from eval import metrics as m
from eval.dataset import Dataset, EvalCase
from eval.results import (
    RESULTS_FORMAT,
    CaseRecord,
    CheckRecord,
    Coverage,
    DatasetInfo,
    EvalResults,
    JudgeRating,
    JudgeSummary,
    MetricEstimate,
    RunInfo,
    SliceGroup,
    Slices,
)

__all__ = ["RESULTS_FORMAT", "EvalResults", "build_results", "load_results", "run_eval", "write_results"]
OUT_OF_SCOPE_LESSON = "(out of scope)"
HAND_WRITTEN, SYNTHETIC = "hand-written", "synthetic"

# Retrieval metrics read the ranked passages; the answer metrics read the answer and its citations.
RETRIEVAL_METRICS = ("hit_at_1", "hit_at_3", "hit_at_5", "recall_at_5", "mrr", "ndcg_at_10")
ANSWER_METRICS = ("key_fact_recall", "semantic_similarity", "token_f1", "faithfulness", "citation_precision", "citation_validity")
REFUSAL_METRICS = ("refusal_precision", "refusal_recall", "answer_rate")
LATENCY_METRICS = ("latency_p50_ms", "latency_p95_ms")
JUDGE_METRICS = ("judge_correctness", "judge_groundedness")
SUMMARY_METRICS = ("pass_rate", "question_score")
MEAN_METRICS = RETRIEVAL_METRICS + ANSWER_METRICS + SUMMARY_METRICS + JUDGE_METRICS
ALL_METRICS = SUMMARY_METRICS + RETRIEVAL_METRICS + ANSWER_METRICS + REFUSAL_METRICS + LATENCY_METRICS + JUDGE_METRICS

DEFAULT_TIMEOUT_S = 60.0

AnswerFunction = Callable[..., Answer]  # called as answer_fn(guide, question, history=[...])


class Judge(Protocol):
    """An optional grader of answers (the LLM judge); it is never needed for a run."""

    model: str
    runs: int

    def rate(self, case: EvalCase, answer: dict[str, Any]) -> dict[str, Any]:
        """{"correctness": [0-1 per run], "groundedness": [...], "errors": [reasons of failed runs]}."""
        ...


class CaseTimeout(TimeoutError):
    """The answer function did not return within the case time limit."""


@dataclass(frozen=True)
class Check:
    """One pass/fail test of a case's answer, with the reason in words when it fails."""

    name: str
    label: str
    passed: bool
    why: str = ""

    def to_record(self) -> CheckRecord:
        return CheckRecord(name=self.name, label=self.label, passed=self.passed, why=self.why)


@dataclass
class CaseResult:
    """Everything the report shows about one case: the answer, its scores, its checks, and the evidence."""

    case: EvalCase
    lesson: str
    status: str  # "passed", "failed" or "error"
    error: str | None = None
    latency_ms: float | None = None
    answer: dict[str, Any] | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    sentences: list[dict[str, Any]] = field(default_factory=list)
    retrieved: list[dict[str, Any]] = field(default_factory=list)
    facts: list[dict[str, Any]] = field(default_factory=list)
    judge: JudgeRating | None = None

    @property
    def refused(self) -> bool:
        return bool(self.answer and self.answer["refused"])

    @property
    def origin(self) -> str:
        return SYNTHETIC if self.case.synthetic else HAND_WRITTEN

    def to_record(self) -> CaseRecord:
        """The case as results.json holds it (scores rounded; the answer and evidence validated against the models)."""
        return CaseRecord.model_validate({
            **self.case.to_dict(),
            "line": self.case.line,
            "lesson": self.lesson,
            "origin": self.origin,
            "status": self.status,
            "error": self.error,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 2),
            "refused": self.refused,
            "metrics": {k: None if v is None else round(v, 4) for k, v in self.metrics.items()},
            "checks": [c.to_record() for c in self.checks],
            "answer": self.answer,
            "sentences": self.sentences,
            "retrieved": self.retrieved,
            "facts": self.facts,
            "judge": self.judge,
        })


def call_with_timeout(function: Callable[[], Answer], timeout_s: float) -> Answer:
    """Run one answer in a daemon thread and give up on it after timeout_s (a stuck call cannot block the run or exit)."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function()
        except Exception as err:  # re-raised in the caller's thread below, where it is recorded against the case
            outcome["error"] = err

    thread = threading.Thread(target=target, name="eval-case", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise CaseTimeout(f"no answer within {timeout_s:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def lesson_titles(guide: Guide) -> dict[str, str]:
    return {source: entry.title for source, entry in guide.index.refresh().files.items()}


def case_lesson(case: EvalCase, titles: dict[str, str]) -> str:
    if not case.sources:
        return OUT_OF_SCOPE_LESSON
    return titles.get(case.sources[0].source, case.sources[0].source)


# --- scoring one case --------------------------------------------------------------------------

def _gold_hits(case: EvalCase, retrieved: list[dict[str, Any]]) -> list[frozenset[int]]:
    return [
        frozenset(i for i, gold in enumerate(case.sources) if gold.matches(r["source"], r["section"], r["page"]))
        for r in retrieved
    ]


def _retrieval_metrics(case: EvalCase, hits: list[frozenset[int]]) -> dict[str, float]:
    n_gold = len(case.sources)
    return {
        "hit_at_1": m.hit_at_k(hits, 1),
        "hit_at_3": m.hit_at_k(hits, 3),
        "hit_at_5": m.hit_at_k(hits, 5),
        "recall_at_5": m.recall_at_k(hits, n_gold, 5),
        "mrr": m.reciprocal_rank(hits),
        "ndcg_at_10": m.ndcg_at_k(hits, n_gold, 10),
    }


def _support(answer: dict[str, Any], embedder) -> list[dict[str, Any]]:
    """Each answer sentence with the passage it cites and whether that passage supports it.

    Extractive answers quote the course, so support is an exact word-for-word match inside the cited
    passage. Generated answers reword it, so support is token overlap plus embedding similarity to
    the passage's closest sentence."""
    by_number = {c["n"]: c["chunk_id"] for c in answer["citations"]}
    texts = {r["chunk_id"]: r["text"] for r in answer["retrieved"]}
    generated = answer.get("answerer") == "llm"
    records = []
    for claim in marked_stretches(answer["answer"]):
        record: dict[str, Any] = {"text": claim.text, "markers": list(claim.markers), "supported": False,
                                  "chunk_id": None, "span": None, "overlap": None, "similarity": None}
        cited = [by_number[n] for n in claim.markers if n in by_number and by_number[n] in texts]
        for chunk_id in cited:
            if generated:
                found = support(claim.text, texts[chunk_id], embedder, always_measure=True)
                if record["similarity"] is None or (found.overlap, found.similarity) > (record["overlap"], record["similarity"]):
                    record.update(chunk_id=chunk_id, span=list(found.span) if found.span else None, overlap=round(found.overlap, 4),
                                  similarity=round(found.similarity, 4), supported=found.supported)
                continue
            span = m.find_span(claim.text, texts[chunk_id])
            if span is not None:
                record.update(chunk_id=chunk_id, span=list(span), supported=True)
                break
        if record["chunk_id"] is None and cited:
            record["chunk_id"] = cited[0]
        records.append(record)
    return records


def _citation_validity(answer: dict[str, Any]) -> float | None:
    """Share of markers that resolve to a citation whose passage was retrieved; 0 for an answer with no markers."""
    if answer["refused"]:
        return None
    numbers = marker_numbers(answer["answer"])
    if not numbers:
        return 0.0
    retrieved = {r["chunk_id"] for r in answer["retrieved"]}
    valid = {c["n"] for c in answer["citations"] if c["chunk_id"] in retrieved}
    return sum(n in valid for n in numbers) / len(numbers)


def score_case(case: EvalCase, answer: Answer, lesson: str, latency_ms: float, embedder, refusal_threshold: tuple[float, float, float]) -> CaseResult:
    """Score one answered case (semantic similarity is filled in later, in one batch for the whole run)."""
    data = answer.to_dict()
    result = CaseResult(case=case, lesson=lesson, status="passed", latency_ms=latency_ms, answer=data)
    hits = _gold_hits(case, data["retrieved"])
    result.retrieved = [
        {**r, "rank": rank, "gold": bool(h)} for rank, (r, h) in enumerate(zip(data["retrieved"], hits), start=1)
    ]
    metrics: dict[str, float | None] = {name: None for name in RETRIEVAL_METRICS + ANSWER_METRICS}
    answer_text = strip_markers(data["answer"])
    result.facts = [{"alternatives": alts, "found": m.fact_present(answer_text, alts)} for alts in case.must_include]
    if case.in_scope:
        metrics.update(_retrieval_metrics(case, hits))
        metrics["key_fact_recall"] = m.key_fact_recall(data["answer"], case.must_include)
        metrics["token_f1"] = m.token_f1(data["answer"], case.reference_answer)
        cited_gold = [any(g.matches(c["source"], c["section"], c["page"]) for g in case.sources) for c in data["citations"]]
        metrics["citation_precision"] = m.share(cited_gold)
    if not data["refused"]:
        result.sentences = _support(data, embedder)
        metrics["faithfulness"] = m.share([s["supported"] for s in result.sentences])
        metrics["citation_validity"] = _citation_validity(data)
    result.metrics = metrics
    result.checks = _checks(case, result, refusal_threshold)
    result.status = "passed" if all(c.passed for c in result.checks) else "failed"
    return result


def _quote(text: str, limit: int = 90) -> str:
    return f"'{text[:limit]}…'" if len(text) > limit else f"'{text}'"


def _checks(case: EvalCase, result: CaseResult, refusal_threshold: tuple[float, float, float]) -> list[Check]:
    """Each check of one case; `refusal_threshold` is (threshold, lexical floor, meaning limit), to say why a question was refused."""
    data, metrics = result.answer, result.metrics
    assert data is not None, "checks are made only for cases that were answered"
    if data.get("scope"):
        why = explain(data["scope"], *refusal_threshold)
    else:
        why = "no passage was found" if not data["retrieved"] else f"its best passage scored {data['retrieved'][0]['score']:.3f}"
    if not case.in_scope:
        return [Check("refused", "Refused (the course does not cover it)", data["refused"],
                      "" if data["refused"] else f"Answered although the course does not cover it: {why}.")]
    checks = [Check("answered", "Answered", not data["refused"],
                    f"Refused although the course covers it: {why}." if data["refused"] else "")]
    gold_labels = "; ".join(g.label() for g in case.sources)
    checks.append(Check("retrieval", "Right passages retrieved", metrics["hit_at_5"] == 1.0,
                        "" if metrics["hit_at_5"] == 1.0 else f"None of the top 5 passages comes from the gold sources ({gold_labels})."))
    if case.must_include:
        missing = [" or ".join(f"'{a}'" for a in f["alternatives"]) for f in result.facts if not f["found"]]
        checks.append(Check("key_facts", "States the key facts", not missing,
                            f"Missing {len(missing)} of {len(result.facts)} key facts: {'; '.join(missing)}." if missing else ""))
    if data["refused"]:
        return checks
    unsupported = [s for s in result.sentences if not s["supported"]]
    checks.append(Check("faithful", "Every sentence supported by its citation", not unsupported,
                        f"{len(unsupported)} of {len(result.sentences)} sentences are not supported by the passage they cite: "
                        + "; ".join(_quote(s["text"]) + ("" if s["markers"] else " (no citation)") for s in unsupported[:3])
                        if unsupported else ""))
    validity = metrics["citation_validity"]
    checks.append(Check("citations_valid", "Citation markers resolve", validity == 1.0,
                        "" if validity == 1.0 else "Some [n] markers point at no citation, or the answer cites nothing."))
    precision = metrics["citation_precision"]
    checks.append(Check("cites_gold", "Cites a gold passage", bool(precision),
                        "" if precision else f"None of the cited passages is from the gold sources ({gold_labels})."))
    return checks


def error_result(case: EvalCase, lesson: str, reason: str, latency_ms: float) -> CaseResult:
    """A case whose answer could not be had: it counts as a failure, scoring 0 wherever a score was expected."""
    metrics: dict[str, float | None] = {name: None for name in RETRIEVAL_METRICS + ANSWER_METRICS}
    if case.in_scope:
        metrics.update({name: 0.0 for name in RETRIEVAL_METRICS})
        metrics.update(key_fact_recall=0.0 if case.must_include else None, semantic_similarity=0.0, token_f1=0.0)
    return CaseResult(case=case, lesson=lesson, status="error", error=reason, latency_ms=latency_ms, metrics=metrics,
                      checks=[Check("ran", "Answered without an error", False, reason)],
                      facts=[{"alternatives": alts, "found": False} for alts in case.must_include])


def question_score(result: CaseResult) -> float:
    """One 0–1 score per question for the distribution plot and run-to-run comparison (see README)."""
    if result.status == "error":
        return 0.0
    if not result.case.in_scope:
        return 1.0 if result.refused else 0.0
    if result.refused:
        return 0.0
    metrics = result.metrics
    content = metrics["key_fact_recall"] if metrics["key_fact_recall"] is not None else metrics["semantic_similarity"]
    candidates = [metrics["recall_at_5"], content, metrics["faithfulness"], metrics["citation_precision"]]
    parts = [float(p) for p in candidates if p is not None]
    return sum(parts) / len(parts)


# --- the run ------------------------------------------------------------------------------------

def run_cases(
    guide: Guide,
    cases: Iterable[EvalCase],
    *,
    answer_fn: AnswerFunction = answer_question,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: Callable[[int], None] | None = None,
) -> list[CaseResult]:
    """Ask and score each case; an exception or a timeout is recorded against its case and the run goes on."""
    titles = lesson_titles(guide)
    results: list[CaseResult] = []
    for case in cases:
        lesson = case_lesson(case, titles)
        started = time.perf_counter()
        try:
            answer = call_with_timeout(functools.partial(answer_fn, guide, case.question, history=case.history), timeout_s)
        except CaseTimeout as err:
            results.append(error_result(case, lesson, f"Timed out: {err}.", (time.perf_counter() - started) * 1000))
        except Exception as err:  # any failure of one case is that case's result, never the run's end
            reason = f"The answer function raised {type(err).__name__}: {err}"
            results.append(error_result(case, lesson, reason, (time.perf_counter() - started) * 1000))
        else:
            latency = (time.perf_counter() - started) * 1000
            results.append(score_case(case, answer, lesson, latency, guide.embedder,
                                          (guide.settings.refusal_threshold, guide.settings.refusal_lexical_floor,
                                           guide.settings.refusal_meaning_limit)))
        if progress:
            progress(1)
    _add_semantic_similarity(results, guide.embedder)
    for result in results:
        result.metrics["question_score"] = question_score(result)
        result.metrics["pass_rate"] = 1.0 if result.status == "passed" else 0.0
    return results


def _add_semantic_similarity(results: list[CaseResult], embedder) -> None:
    """Cosine similarity of answer and reference, embedded in one batch in dataset order (same batches, same numbers)."""
    scored = [r for r in results if r.answer is not None and r.case.in_scope and r.case.reference_answer]
    if not scored:
        return
    texts = [strip_markers(r.answer["answer"]) for r in scored if r.answer is not None] + [r.case.reference_answer for r in scored]
    vectors = embedder.encode(texts)
    for i, result in enumerate(scored):
        result.metrics["semantic_similarity"] = max(0.0, round(m.cosine(vectors[i], vectors[len(scored) + i]), 4))


def aggregate(results: list[CaseResult]) -> dict[str, m.Estimate]:
    """Every metric over these cases, each with a bootstrap 95% CI."""
    estimates: dict[str, m.Estimate] = {}
    for name in MEAN_METRICS:
        estimates[name] = m.mean_estimate([r.metrics.get(name) for r in results])
    out_of_scope = [0.0 if r.case.in_scope else 1.0 for r in results]
    refused = [1.0 if r.refused else 0.0 for r in results]
    correctly_refused = [a * b for a, b in zip(out_of_scope, refused)]
    estimates["refusal_recall"] = m.ratio_estimate(correctly_refused, out_of_scope)
    estimates["refusal_precision"] = m.ratio_estimate(correctly_refused, refused)
    in_scope = [1.0 - x for x in out_of_scope]
    answered = [1.0 if (r.case.in_scope and r.answer is not None and not r.refused) else 0.0 for r in results]
    estimates["answer_rate"] = m.ratio_estimate(answered, in_scope)
    latencies = [r.latency_ms for r in results if r.status != "error" and r.latency_ms is not None]
    estimates["latency_p50_ms"] = m.percentile_estimate(latencies, 50)
    estimates["latency_p95_ms"] = m.percentile_estimate(latencies, 95)
    return {name: estimates[name] for name in ALL_METRICS}


def _estimates(results: list[CaseResult]) -> dict[str, MetricEstimate]:
    return {name: MetricEstimate.of(estimate) for name, estimate in aggregate(results).items()}


def slices(results: list[CaseResult]) -> Slices:
    """Aggregates per question type, topic, lesson and origin (hand-written or synthetic)."""
    keys: dict[str, Callable[[CaseResult], str]] = {
        "type": lambda r: r.case.type,
        "topic": lambda r: r.case.topic,
        "lesson": lambda r: r.lesson,
        "origin": lambda r: r.origin,
    }
    out: dict[str, dict[str, SliceGroup]] = {}
    for dimension, key in keys.items():
        groups: dict[str, list[CaseResult]] = {}
        for result in results:
            groups.setdefault(key(result), []).append(result)
        out[dimension] = {
            value: SliceGroup(n=len(members), metrics=_estimates(members)) for value, members in sorted(groups.items())
        }
    return Slices.model_validate(out)


def coverage(guide: Guide, cases: list[EvalCase]) -> Coverage:
    """Which lessons and sections of the course no eval question points at."""
    titles = lesson_titles(guide)
    units: dict[tuple[str, str], list[tuple[str, str, int | None]]] = {}
    for chunk in guide.index.chunks():
        units.setdefault((chunk.source, chunk.section), []).append((chunk.source, chunk.section, chunk.page))
    lessons: dict[str, dict[str, Any]] = {
        source: {"source": source, "title": title, "questions": 0, "sections": []} for source, title in sorted(titles.items())
    }
    gold_cases = [c for c in cases if c.in_scope]
    for case in gold_cases:
        for source in {g.source for g in case.sources}:
            if source in lessons:
                lessons[source]["questions"] += 1
    for (source, section), places in units.items():
        asked = sum(any(g.matches(*place) for g in c.sources for place in places) for c in gold_cases)
        if source in lessons:
            title = lessons[source]["title"]
            short = section.removeprefix(title).removeprefix(SECTION_SEPARATOR) or "(introduction)"
            lessons[source]["sections"].append({"section": section, "label": short, "questions": asked})
    sections = [s for lesson in lessons.values() for s in lesson["sections"]]
    covered = sum(s["questions"] > 0 for s in sections)
    return Coverage.model_validate({
        "lessons": list(lessons.values()),
        "uncovered_lessons": [lesson["title"] for lesson in lessons.values() if lesson["questions"] == 0],
        "sections_total": len(sections),
        "sections_covered": covered,
        "section_coverage": round(covered / len(sections), 4) if sections else None,
    })


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _package_version() -> str:
    try:
        return version("course-guide")
    except PackageNotFoundError:
        return "unknown"


def build_results(guide: Guide, dataset: Dataset, results: list[CaseResult], started_at: datetime,
                  judged: JudgeSummary | None = None) -> EvalResults:
    """The whole run as one typed document: what results.json holds and the report renders."""
    manifest = guide.index.refresh()
    hand_written = [r for r in results if not r.case.synthetic]
    synthetic = [r for r in results if r.case.synthetic]
    # Synthetic questions flatter keyword retrieval, so the headline figures are the hand-written ones when there are any.
    headline, headline_results = (HAND_WRITTEN, hand_written) if hand_written else (SYNTHETIC, synthetic)
    answerers = sorted({r.answer["answerer"] for r in results if r.answer})
    run = RunInfo.model_validate({
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "course_guide_version": _package_version(),
        "db_dir": str(guide.settings.db_dir),
        "index_generation": manifest.generation,
        "chunks": manifest.chunk_count,
        "lessons": len(manifest.files),
        "answerers": answerers,
        "settings": {
            "top_k": guide.settings.top_k,
            "refusal_threshold": guide.settings.refusal_threshold,
            "max_answer_sentences": guide.settings.max_answer_sentences,
        },
    })
    dataset_info = DatasetInfo.model_validate({
        "path": str(dataset.path),
        "sha256": _file_sha256(dataset.path),
        "cases": len(dataset.cases),
        "hand_written": len(hand_written),
        "synthetic": len(synthetic),
        "problems": [{"line": p.line, "id": p.case_id, "message": p.message} for p in dataset.problems],
    })
    return EvalResults(
        format=RESULTS_FORMAT,
        run=run,
        dataset=dataset_info,
        headline=headline,
        metrics=_estimates(headline_results),
        synthetic_metrics=_estimates(synthetic) if synthetic and hand_written else None,
        slices=slices(results),
        coverage=coverage(guide, dataset.cases),
        cases=[r.to_record() for r in results],
        judge=judged,
    )


def run_eval(
    guide: Guide,
    dataset: Dataset,
    *,
    answer_fn: AnswerFunction = answer_question,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: Callable[[int], None] | None = None,
    judge: Judge | None = None,
) -> EvalResults:
    """Run a dataset against the guide; the typed results of the run (see build_results)."""
    started_at = datetime.now(timezone.utc)
    results = run_cases(guide, dataset.cases, answer_fn=answer_fn, timeout_s=timeout_s, progress=progress)
    judged = apply_judge(judge, results) if judge is not None else None
    return build_results(guide, dataset, results, started_at, judged)


def apply_judge(judge: Judge, results: list[CaseResult]) -> JudgeSummary:
    """Judge scores per answered case (mean of the judge's runs) and the run's spread; a failed rating is recorded, not fatal."""
    spreads: dict[str, list[float]] = {name: [] for name in JUDGE_METRICS}
    scored = failures = 0
    for result in results:
        if result.answer is None:
            continue
        rating = JudgeRating.model_validate(judge.rate(result.case, result.answer))
        failures += len(rating.errors)
        result.judge = rating
        for name in JUDGE_METRICS:
            values: list[float] = getattr(rating, name.removeprefix("judge_"))
            result.metrics[name] = sum(values) / len(values) if values else None
            if len(values) > 1:
                spreads[name].append(max(values) - min(values))
        scored += bool(rating.correctness or rating.groundedness)
    return JudgeSummary(
        model=judge.model,
        runs=judge.runs,
        cases=sum(r.answer is not None for r in results),
        scored=scored,
        failures=failures,
        spread={name: round(sum(v) / len(v), 4) if v else None for name, v in spreads.items()},
    )


# --- the run folder -----------------------------------------------------------------------------

CSV_COLUMNS = ("id", "type", "topic", "lesson", "origin", "status", "refused", "latency_ms", *ANSWER_METRICS,
               *RETRIEVAL_METRICS, "question_score", "failed_checks", "error", "question", "answer")


def default_run_dir(root: Path = Path("eval/runs")) -> Path:
    """eval/runs/<UTC time>, with a suffix if a run already started in the same second."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    candidate, n = root / stamp, 1
    while candidate.exists():
        n += 1
        candidate = root / f"{stamp}-{n}"
    return candidate


def write_results(run_dir: Path, results: EvalResults) -> None:
    """results.json (everything) and results.csv (one row per case, for a spreadsheet)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "results.json").write_text(results.to_json(), encoding="utf-8")
    with (run_dir / "results.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for case in results.cases:
            writer.writerow({
                "id": case.id, "type": case.type, "topic": case.topic, "lesson": case.lesson, "origin": case.origin,
                "status": case.status, "refused": case.refused, "latency_ms": case.latency_ms, "error": case.error,
                "question": case.question,
                **{k: case.metrics.get(k) for k in ANSWER_METRICS + RETRIEVAL_METRICS + ("question_score",)},
                "failed_checks": "; ".join(c.name for c in case.failed_checks),
                "answer": case.answer.answer if case.answer else "",
            })


def load_results(run_dir: Path) -> EvalResults:
    """A previous run's results.json, or ValueError saying in one line what is wrong with the folder."""
    path = Path(run_dir) / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"No results.json in {run_dir}: pass the folder of an earlier `course-guide eval` run.") from None
    except (OSError, ValueError) as err:
        raise ValueError(f"Cannot read {path}: {err}. Re-run that eval or pick another run folder.") from None
    if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT or "cases" not in data:
        raise ValueError(f"{path} is not a results file of this version of course-guide eval; re-run that eval.")
    try:
        return EvalResults.model_validate(data)
    except ValidationError as err:
        raise ValueError(f"{path} is not a results file of this version of course-guide eval ({explain_invalid(err)}); "
                         "re-run that eval or pick another run folder.") from None
