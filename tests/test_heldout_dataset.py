"""The held-out web-development course and its questions (eval/datasets/heldout_webdev*): every line valid, every gold
source and section real after ingest, every key fact in its gold passage, the license kept. No scores are gated here."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from core.settings import Settings
from core.types import Chunk
from eval.dataset import CASE_TYPES, OUT_OF_SCOPE, EvalCase, load_dataset
from ingest.pipeline import ingest_corpus

REPO = Path(__file__).resolve().parent.parent
HELDOUT = REPO / "eval" / "datasets" / "heldout_webdev"
COURSE = HELDOUT / "course"
DATASET = REPO / "eval" / "datasets" / "heldout_webdev.jsonl"


@pytest.fixture(scope="module")
def heldout_chunks(tmp_path_factory, fake_embedder) -> list[Chunk]:
    """The held-out course as our ingest chunks it (the hashing fake embedder: section paths do not depend on the model)."""
    from app.engine.guide import open_guide

    settings = Settings(corpus_dir=COURSE, db_dir=tmp_path_factory.mktemp("heldout") / "index")
    report = ingest_corpus(settings, lambda: fake_embedder)
    assert report.published and not report.problems and not report.skipped, report.summary_line()
    return open_guide(settings, fake_embedder).index.chunks()


@pytest.fixture(scope="module")
def cases() -> list[EvalCase]:
    dataset = load_dataset(DATASET)
    assert dataset.problems == [], [str(p) for p in dataset.problems]
    return dataset.cases


def _gold_chunks(chunks: list[Chunk], case: EvalCase) -> list[Chunk]:
    return [c for c in chunks if any(gold.matches(c.source, c.section, c.page) for gold in case.sources)]


def test_every_line_is_a_valid_case_and_the_set_has_the_agreed_size_and_spread(cases):
    counts = Counter(case.type for case in cases)
    in_scope = [case for case in cases if case.in_scope]
    assert len(in_scope) >= 40 and counts[OUT_OF_SCOPE] >= 10, counts
    assert set(counts) == set(CASE_TYPES), f"every kind of question is represented: {counts}"
    assert not any(case.synthetic for case in cases)
    topics = Counter(case.topic for case in cases if not case.in_scope)
    assert topics["prompt injection"] >= 2 and topics["web-dev-adjacent"] >= 5, topics


def test_the_course_has_twenty_lessons_and_its_license_and_source_notes(cases):
    lessons = sorted(p.name for p in COURSE.iterdir())
    assert len(lessons) >= 20 and all(name.endswith(".md") for name in lessons), lessons
    license_text = (HELDOUT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License") and "Permission is hereby granted" in license_text
    source_notes = (HELDOUT / "SOURCE.md").read_text(encoding="utf-8")
    assert "microsoft/Web-Dev-For-Beginners" in source_notes
    assert all(name in source_notes for name in lessons), "SOURCE.md names every lesson file it came from"


def test_the_held_out_course_is_not_part_of_the_shipped_corpus():
    shipped = {p.name for p in (REPO / "corpus").rglob("*") if p.is_file()}
    assert not shipped & {p.name for p in COURSE.iterdir()}
    assert not COURSE.resolve().is_relative_to((REPO / "corpus").resolve())


def test_every_gold_source_is_a_file_of_the_held_out_course(cases):
    missing = {(case.id, gold.source) for case in cases for gold in case.sources if not (COURSE / gold.source).is_file()}
    assert not missing, missing


def test_every_gold_section_is_a_section_our_ingest_makes(cases, heldout_chunks):
    sections = {(c.source, c.section) for c in heldout_chunks}
    unknown = [
        (case.id, gold.label()) for case in cases for gold in case.sources
        if not any(gold.matches(source, section, None) for source, section in sections)
    ]
    assert not unknown, unknown


def test_every_key_fact_is_in_a_gold_passage(cases, heldout_chunks):
    """Each fact has an alternative in the text of its gold sections (with their lesson title and section path,
    for the 'which lesson covers X?' questions), as the dev set's README asks."""
    unmet = []
    for case in cases:
        if not case.in_scope:
            assert case.must_include == [] and case.sources == [], case.id
            continue
        passages = " \n".join(f"{c.title}\n{c.section}\n{c.text}" for c in _gold_chunks(heldout_chunks, case)).lower()
        unmet += [(case.id, fact) for fact in case.must_include if not any(alt.lower() in passages for alt in fact)]
    assert not unmet, unmet


def test_follow_ups_carry_the_conversation_they_follow(cases):
    follow_ups = [case for case in cases if case.type == "follow-up"]
    assert len(follow_ups) >= 5
    for case in follow_ups:
        assert case.history and case.history[0]["role"] == "user" and case.history[-1]["role"] == "assistant", case.id
