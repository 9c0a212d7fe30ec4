"""Checks shared by the tests of the real-course question sets (held-out and second dev course): the course as our
ingest chunks it, and which gold sources, sections and key facts a set gets wrong."""
from __future__ import annotations

from pathlib import Path

from core.settings import Settings
from core.types import Chunk
from eval.dataset import EvalCase, load_dataset
from ingest.pipeline import ingest_corpus

REPO = Path(__file__).resolve().parent.parent


def course_chunks(course: Path, db_dir: Path, embedder) -> list[Chunk]:
    """The course as our ingest chunks it (a hashing fake embedder will do: section paths do not depend on the model)."""
    from app.engine.guide import open_guide

    settings = Settings(corpus_dir=course, db_dir=db_dir)
    report = ingest_corpus(settings, lambda: embedder)
    assert report.published and not report.problems and not report.skipped, report.summary_line()
    return open_guide(settings, embedder).index.chunks()


def valid_cases(path: Path) -> list[EvalCase]:
    dataset = load_dataset(path)
    assert dataset.problems == [], (path.name, [str(p) for p in dataset.problems])
    return dataset.cases


def shared_with_shipped_corpus(course: Path) -> set[str]:
    """Lesson file names the course shares with the shipped corpus/ (none, for a course kept out of it)."""
    shipped = {p.name for p in (REPO / "corpus").rglob("*") if p.is_file()}
    assert not course.resolve().is_relative_to((REPO / "corpus").resolve())
    return shipped & {p.name for p in course.iterdir()}


def missing_gold_sources(cases: list[EvalCase], course: Path) -> set[tuple[str, str]]:
    return {(case.id, gold.source) for case in cases for gold in case.sources if not (course / gold.source).is_file()}


def unknown_gold_sections(cases: list[EvalCase], chunks: list[Chunk]) -> list[tuple[str, str]]:
    sections = {(c.source, c.section) for c in chunks}
    return [
        (case.id, gold.label()) for case in cases for gold in case.sources
        if not any(gold.matches(source, section, None) for source, section in sections)
    ]


def unmet_key_facts(cases: list[EvalCase], chunks: list[Chunk]) -> list[tuple[str, list[str]]]:
    """Facts with no alternative in the text of their gold sections (with their lesson title and section path, for
    the 'which lesson covers X?' questions), as the dev set's README asks; out-of-scope cases must have neither."""
    unmet = []
    for case in cases:
        if not case.in_scope:
            assert case.must_include == [] and case.sources == [], case.id
            continue
        gold = [c for c in chunks if any(g.matches(c.source, c.section, c.page) for g in case.sources)]
        passages = " \n".join(f"{c.title}\n{c.section}\n{c.text}" for c in gold).lower()
        unmet += [(case.id, fact) for fact in case.must_include if not any(alt.lower() in passages for alt in fact)]
    return unmet


def thin_multi_section(cases: list[EvalCase]) -> list[str]:
    return [case.id for case in cases if case.type == "multi-section" and len(case.sources) < 2]


def check_follow_ups(cases: list[EvalCase], at_least: int) -> None:
    follow_ups = [case for case in cases if case.type == "follow-up"]
    assert len(follow_ups) >= at_least
    for case in follow_ups:
        assert case.history and case.history[0]["role"] == "user" and case.history[-1]["role"] == "assistant", case.id
