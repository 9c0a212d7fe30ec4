"""report.html for instructors: one self-contained file with metric cards, plain-language lists, matplotlib plots inline as SVG, coverage and a filterable per-question drill-down."""
from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from eval.harness import OUT_OF_SCOPE_LESSON
from eval.results import CaseRecord, CitationRecord, EvalResults, MetricEstimate, SliceGroup


@dataclass(frozen=True)
class MetricInfo:
    label: str
    help: str  # one sentence an instructor can act on
    group: str
    kind: str = "share"  # "share" (0–1, shown as %), "score" (0–1, shown as 0.00) or "ms"


METRIC_INFO: dict[str, MetricInfo] = {
    "pass_rate": MetricInfo("Questions passing every check", "Answered (or refused) correctly, with the key facts, right sources and valid, supported citations.", "Overall"),
    "question_score": MetricInfo("Average question score", "Each question scores 0–1 from its passages, key facts, support and citations; refusals score 1 when right.", "Overall", "score"),
    "hit_at_1": MetricInfo("Right passage first", "The top passage the guide read is from the expected part of the course.", "Finding the right passages"),
    "hit_at_3": MetricInfo("Right passage in top 3", "One of the 3 best passages is from the expected part of the course.", "Finding the right passages"),
    "hit_at_5": MetricInfo("Right passage in top 5", "One of the 5 passages the guide read is from the expected part of the course.", "Finding the right passages"),
    "recall_at_5": MetricInfo("Expected passages found", "Of the passages a question needs, the share found in the top 5 (matters for multi-section questions).", "Finding the right passages"),
    "mrr": MetricInfo("How high the right passage ranks (MRR)", "1 when the right passage comes first, 0.5 when second, and so on; 0 when missing.", "Finding the right passages", "score"),
    "ndcg_at_10": MetricInfo("Ranking quality (nDCG@10)", "1 when every expected passage is found and ranked at the top.", "Finding the right passages", "score"),
    "key_fact_recall": MetricInfo("Key facts stated", "Share of the facts you listed in must_include that the answer states.", "Answer quality"),
    "semantic_similarity": MetricInfo("Meaning close to your reference", "How close the answer's meaning is to your reference answer (embedding similarity).", "Answer quality", "score"),
    "token_f1": MetricInfo("Word overlap with your reference", "Overlap of content words between answer and reference (F1).", "Answer quality", "score"),
    "faithfulness": MetricInfo("Sentences backed by their citation", "Share of answer sentences found in (or supported by) the passage they cite.", "Citations"),
    "citation_precision": MetricInfo("Citations from the expected passages", "Share of cited passages that come from the expected part of the course.", "Citations"),
    "citation_validity": MetricInfo("Citation markers that resolve", "Share of [n] markers that point at a passage the guide actually read.", "Citations"),
    "refusal_recall": MetricInfo("Off-course questions refused", "Of the questions the course does not cover, the share the guide declined.", "Refusing what the course does not cover"),
    "refusal_precision": MetricInfo("Refusals that were right", "Of all refusals, the share that were for questions the course does not cover.", "Refusing what the course does not cover"),
    "answer_rate": MetricInfo("Course questions answered", "Of the questions the course covers, the share the guide answered instead of refusing.", "Refusing what the course does not cover"),
    "latency_p50_ms": MetricInfo("Typical answer time", "Half of the answers took less than this.", "Speed", "ms"),
    "latency_p95_ms": MetricInfo("Slow answer time", "95% of the answers took less than this.", "Speed", "ms"),
    "judge_correctness": MetricInfo("LLM judge: correct", "An LLM judge's 0–1 rating of correctness against your reference (mean of 3 runs).", "LLM judge", "score"),
    "judge_groundedness": MetricInfo("LLM judge: grounded", "An LLM judge's 0–1 rating of how well the cited passages back the answer (mean of 3 runs).", "LLM judge", "score"),
}

CHECK_COLOURS = {"passed": "#15803d", "failed": "#b91c1c", "error": "#475569"}
PLOT_METRICS = (("pass_rate", "Passed every check", "#2563eb"), ("key_fact_recall", "Key facts stated", "#f59e0b"),
                ("hit_at_5", "Right passage in top 5", "#10b981"))


def format_value(name: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    kind = METRIC_INFO[name].kind if name in METRIC_INFO else "score"
    if kind == "share":
        return f"{value * 100:.0f}%" if value in (0, 1) else f"{value * 100:.1f}%"
    if kind == "ms":
        return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"
    return f"{value:.2f}"


def format_delta(name: str, delta: float | None) -> str:
    if delta is None:
        return ""
    kind = METRIC_INFO[name].kind if name in METRIC_INFO else "score"
    sign = "+" if delta > 0 else ("−" if delta < 0 else "±")
    magnitude = abs(delta)
    if kind == "share":
        return f"{sign}{magnitude * 100:.1f} pts"
    if kind == "ms":
        return f"{sign}{magnitude:,.0f} ms"
    return f"{sign}{magnitude:.2f}"


# --- plots --------------------------------------------------------------------------------------

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Text stays text (crisp, searchable) and element ids are salted by a constant, so a re-run writes the same SVG.
    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "course-guide-eval", "font.size": 10,
                         "font.family": "DejaVu Sans", "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _svg(fig) -> Markup:
    plt = _pyplot()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML prolog and doctype: it is inlined in HTML
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, count=1, flags=re.S)
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 class="plot-svg" role="img"', svg, count=1)
    return Markup(svg)


def _shorten(text: str, limit: int = 38) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def grouped_bars(groups: dict[str, SliceGroup], width: float = 8.6) -> Markup | None:
    """Horizontal bars of the plotted metrics for each group (lesson or question type), labelled with their values."""
    if not groups:
        return None
    plt = _pyplot()
    names = list(groups)
    height = 0.8 / len(PLOT_METRICS)
    fig, ax = plt.subplots(figsize=(width, 0.7 + 0.62 * len(names)))
    for i, (metric, label, colour) in enumerate(PLOT_METRICS):
        values = [groups[n].metrics[metric].value for n in names]
        positions = [row + (i - 1) * height for row in range(len(names))]
        shown = [v if v is not None else 0 for v in values]
        bars = ax.barh(positions, shown, height=height * 0.92, color=colour, label=label)
        for bar, value in zip(bars, values):
            text = "n/a" if value is None else f"{value * 100:.0f}%"
            ax.text(bar.get_width() + 0.01, bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=8, color="#334155")
    ax.set_yticks(range(len(names)), [f"{_shorten(n)} ({groups[n].n})" for n in names])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0%", "25%", "50%", "75%", "100%"])
    ax.grid(axis="x", color="#e2e8f0")
    ax.set_axisbelow(True)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, frameon=False, fontsize=9, borderaxespad=0.3)
    return _svg(fig)


def score_distribution(cases: Sequence[CaseRecord]) -> Markup | None:
    """Histograms of per-question scores: the question score by outcome, and meaning-closeness to the reference."""
    if not cases:
        return None
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.2, 3.2))
    bins = [i / 10 for i in range(11)]
    stacks = [[c.metrics.get("question_score") or 0.0 for c in cases if c.status == status]
              for status in ("passed", "failed", "error")]
    left.hist(stacks, bins=bins, stacked=True, color=[CHECK_COLOURS[s] for s in ("passed", "failed", "error")],
              label=["passed", "failed", "error"], edgecolor="white")
    left.set_title("Question score", loc="left", fontsize=11, fontweight="bold")
    left.set_xlabel("score (0 = wrong, 1 = fully right)")
    left.set_ylabel("questions")
    import numpy as np

    tallest = int(np.histogram([v for stack in stacks for v in stack], bins=bins)[0].max())
    left.set_ylim(0, max(1, tallest) * 1.3)  # headroom for the legend above the bars
    left.legend(frameon=False, fontsize=8, loc="upper center", ncol=3)
    similarity = [value for c in cases if (value := c.metrics.get("semantic_similarity")) is not None]
    right.hist(similarity, bins=bins, color="#6366f1", edgecolor="white")
    right.set_title("Meaning close to the reference", loc="left", fontsize=11, fontweight="bold")
    right.set_xlabel("similarity (answered course questions)")
    for ax in (left, right):
        ax.grid(axis="y", color="#e2e8f0")
        ax.set_axisbelow(True)
        ax.set_xlim(0, 1)
    fig.tight_layout()
    return _svg(fig)


# --- per-question pieces ----------------------------------------------------------------------

def highlight(text: str, spans: Sequence[Sequence[int]]) -> Markup:
    """The passage, HTML-escaped, with the given character spans marked."""
    merged: list[list[int]] = []
    for start, end in sorted((int(s), int(e)) for s, e in spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, position = [], 0
    for start, end in merged:
        out.append(escape(text[position:start]))
        out.append(Markup("<mark>") + escape(text[start:end]) + Markup("</mark>"))
        position = end
    out.append(escape(text[position:]))
    return Markup("").join(out)


def case_view(case: CaseRecord) -> dict[str, Any]:
    """What the drill-down template needs for one case: citations with their highlighted spans, failed checks."""
    answer = case.answer
    citations = []
    if answer:
        texts = {r.chunk_id: r for r in answer.retrieved}
        for citation in answer.citations:
            spans = [s.span for s in case.sentences if s.chunk_id == citation.chunk_id and s.span]
            passage = texts.get(citation.chunk_id)
            citations.append({
                **citation.model_dump(mode="json"),
                "location": _location(citation),
                "gold": any(r.chunk_id == citation.chunk_id and r.gold for r in case.retrieved),
                "html": highlight(passage.text, spans) if passage else Markup("<em>This passage was not among the retrieved ones.</em>"),
            })
    return {
        **case.model_dump(mode="json"),
        "citations_view": citations,
        "failed_checks": [c.model_dump(mode="json") for c in case.failed_checks],
        "search": " ".join([case.id, case.question, case.reference_answer, answer.answer if answer else "",
                            case.topic, case.lesson]).lower(),
    }


def anchor(case_id: str) -> str:
    """An HTML id for a case id (ids may hold spaces or punctuation)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(case_id))


def _location(citation: CitationRecord) -> str:
    section = citation.section.removeprefix(citation.title).removeprefix(" > ")
    parts = [citation.title] + ([section] if section else []) + ([f"page {citation.page}"] if citation.page else [])
    return " > ".join(parts)


def attention_lists(results: EvalResults) -> list[dict[str, Any]]:
    """The plain-language lists at the top: what regressed or improved, and what is unanswered or wrongly sourced."""
    cases = results.cases
    lists = []
    baseline = results.baseline
    if baseline:
        lists.append({"key": "regressed", "title": "Got worse since the baseline", "tone": "bad",
                      "empty": "No question got worse.",
                      "items": [{"id": e.id, "question": e.question,
                                 "note": f"{e.before} → {e.after}, score {e.score_before:.2f} → {e.score_after:.2f}. {e.why or ''}"}
                                for e in baseline.regressed]})
        lists.append({"key": "improved", "title": "Got better since the baseline", "tone": "good",
                      "empty": "No question got better.",
                      "items": [{"id": e.id, "question": e.question,
                                 "note": f"{e.before} → {e.after}, score {e.score_before:.2f} → {e.score_after:.2f}."}
                                for e in baseline.improved]})

    def why(case: CaseRecord, *names: str) -> str:
        return " ".join(c.why for c in case.failed_checks if not names or c.name in names)

    in_scope = [c for c in cases if c.in_scope]
    lists.append({"key": "unanswered", "title": "Course questions left unanswered", "tone": "bad",
                  "empty": "Every course question got an answer.",
                  "items": [{"id": c.id, "question": c.question, "note": why(c, "answered", "ran")}
                            for c in in_scope if c.status == "error" or c.refused]})
    lists.append({"key": "wrong-sources", "title": "Answered from the wrong part of the course", "tone": "bad",
                  "empty": "Every answer used the expected passages.",
                  "items": [{"id": c.id, "question": c.question, "note": why(c, "retrieval", "cites_gold")}
                            for c in in_scope if c.answer and not c.refused
                            and any(k.name in ("retrieval", "cites_gold") for k in c.failed_checks)]})
    lists.append({"key": "not-refused", "title": "Off-course questions answered anyway", "tone": "bad",
                  "empty": "Every off-course question was refused.",
                  "items": [{"id": c.id, "question": c.question, "note": why(c)}
                            for c in cases if not c.in_scope and c.status != "passed"]})
    return lists


def metric_groups(results: EvalResults, synthetic: bool = False) -> list[dict[str, Any]]:
    """Metric cards grouped under plain headings, each with its CI, bar and baseline change (the headline figures only)."""
    metrics: dict[str, MetricEstimate] = (results.synthetic_metrics or {}) if synthetic else results.metrics
    baseline = results.baseline.metrics if results.baseline and not synthetic else {}
    bars = {t.metric: t.model_dump(mode="json") for t in results.thresholds.results} if results.thresholds and not synthetic else {}
    groups: dict[str, list[dict[str, Any]]] = {}
    for name, estimate in metrics.items():
        if estimate.n == 0 and name.startswith("judge_"):
            continue
        info = METRIC_INFO[name]
        delta = baseline[name].delta if name in baseline else None
        # Latency moves with the machine's load, so its change is shown without a good/bad colour.
        trend = None if not delta or info.kind == "ms" else ("good" if delta > 0 else "bad")
        groups.setdefault(info.group, []).append({
            "name": name, "info": info, "value": format_value(name, estimate.value),
            "ci": None if estimate.ci_low is None else f"{format_value(name, estimate.ci_low)} – {format_value(name, estimate.ci_high)}",
            "n": estimate.n, "delta": format_delta(name, delta), "trend": trend,
            "bar": bars.get(name),
        })
    return [{"title": title, "cards": cards} for title, cards in groups.items()]


def slice_rows(results: EvalResults, dimension: str) -> list[dict[str, Any]]:
    columns = ("pass_rate", "hit_at_5", "key_fact_recall", "faithfulness", "citation_precision", "refusal_recall")
    groups = results.slices.by(dimension)
    names = _lesson_order(results, groups) if dimension == "lesson" else list(groups)
    rows = []
    for value in names:
        group = groups[value]
        cells = []
        for name in columns:
            estimate = group.metrics[name]
            shown = format_value(name, estimate.value)
            tone = "" if estimate.value is None else ("good" if estimate.value >= 0.8 else "ok" if estimate.value >= 0.5 else "bad")
            ci = "" if estimate.ci_low is None else f"95% CI {format_value(name, estimate.ci_low)} – {format_value(name, estimate.ci_high)}"
            cells.append({"value": shown, "tone": tone, "ci": ci})
        rows.append({"name": value, "n": group.n, "cells": cells})
    return rows


def render_report(results: EvalResults) -> str:
    """The report as one HTML string: no external file, script, font or network access."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["anchor"] = anchor
    data = results.model_dump(mode="json")  # the template reads plain values; the computing above reads the models
    cases = [case_view(c) for c in results.cases]
    lessons = {k: v for k, v in results.slices.lesson.items() if k != OUT_OF_SCOPE_LESSON}
    ordered_lessons = _lesson_order(results, lessons)
    template = env.get_template("report.html.j2")
    return template.render(
        results=data,
        run=data["run"],
        dataset=data["dataset"],
        cases=cases,
        passed=sum(c.status == "passed" for c in results.cases),
        groups=metric_groups(results),
        synthetic_groups=metric_groups(results, synthetic=True) if results.synthetic_metrics else None,
        attention=attention_lists(results),
        lesson_plot=grouped_bars({k: lessons[k] for k in ordered_lessons}, width=11),
        type_plot=grouped_bars(results.slices.type, width=5.8),
        distribution_plot=score_distribution(results.cases),
        lesson_rows=slice_rows(results, "lesson"),
        type_rows=slice_rows(results, "type"),
        topic_rows=slice_rows(results, "topic"),
        origin_rows=slice_rows(results, "origin") if len(results.slices.origin) > 1 else None,
        lesson_options=_lesson_order(results, {c.lesson for c in results.cases}),
        type_options=sorted({c.type for c in results.cases}),
        origin_options=sorted({c.origin for c in results.cases}),
        coverage=data["coverage"],
        thresholds=data.get("thresholds"),
        baseline=data.get("baseline"),
        judge=data["judge"],
        metric_info=METRIC_INFO,
        format_value=format_value,
    )


def _lesson_order(results: EvalResults, lessons: Iterable[str]) -> list[str]:
    """Lessons in course order (by file name), as the instructor wrote them; out-of-scope questions last."""
    order = {lesson.title: i for i, lesson in enumerate(results.coverage.lessons)}
    order[OUT_OF_SCOPE_LESSON] = len(order) + 1
    return sorted(lessons, key=lambda title: (order.get(title, len(order)), title))


def write_report(run_dir: Path, results: EvalResults) -> Path:
    path = Path(run_dir) / "report.html"
    path.write_text(render_report(results), encoding="utf-8")
    return path
