"""The second dev course (Data Science for Beginners) and its questions (eval/datasets/dev_datasci*): every line valid,
every gold source and section real after ingest, every key fact in its gold passage, the license kept. No scores here."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from core.settings import Settings
from core.types import Chunk
from eval.dataset import CASE_TYPES, OUT_OF_SCOPE, EvalCase, load_dataset
from ingest.pipeline import ingest_corpus

REPO = Path(__file__).resolve().parent.parent
DEV_DATASCI = REPO / "eval" / "datasets" / "dev_datasci"
COURSE = DEV_DATASCI / "course"
# One question file; its ids say which half of the course they were written for (ds-a-: lessons 1-10, ds-b-: 11-20).
DATASETS = [REPO / "eval" / "datasets" / "dev_datasci.jsonl"]
LESSON_NAME = re.compile(r"^\d\d-[a-z0-9-]+\.md$")


@pytest.fixture(scope="module")
def course_chunks(tmp_path_factory, fake_embedder) -> list[Chunk]:
    """The course as our ingest chunks it (the hashing fake embedder: section paths do not depend on the model)."""
    from app.engine.guide import open_guide

    settings = Settings(corpus_dir=COURSE, db_dir=tmp_path_factory.mktemp("dev_datasci") / "index")
    report = ingest_corpus(settings, lambda: fake_embedder)
    assert report.published and not report.problems and not report.skipped, report.summary_line()
    return open_guide(settings, fake_embedder).index.chunks()


@pytest.fixture(scope="module")
def cases_by_file() -> dict[str, list[EvalCase]]:
    assert DATASETS[0].is_file(), "eval/datasets/dev_datasci.jsonl"
    loaded = {}
    for path in DATASETS:
        dataset = load_dataset(path)
        assert dataset.problems == [], (path.name, [str(p) for p in dataset.problems])
        loaded[path.name] = dataset.cases
    return loaded


@pytest.fixture(scope="module")
def cases(cases_by_file) -> list[EvalCase]:
    return [case for file_cases in cases_by_file.values() for case in file_cases]


def _gold_chunks(chunks: list[Chunk], case: EvalCase) -> list[Chunk]:
    return [c for c in chunks if any(gold.matches(c.source, c.section, c.page) for gold in case.sources)]


def test_each_half_has_the_agreed_size_and_spread(cases_by_file):
    for name, file_cases in cases_by_file.items():
        counts = Counter(case.type for case in file_cases)
        in_scope = [case for case in file_cases if case.in_scope]
        assert len(in_scope) >= 25 and counts[OUT_OF_SCOPE] >= 6, (name, counts)
        assert set(counts) == set(CASE_TYPES), f"{name}: every kind of question is represented: {counts}"
        assert not any(case.synthetic for case in file_cases), name
        topics = Counter(case.topic for case in file_cases if not case.in_scope)
        assert topics["prompt injection"] >= 1 and topics["off-topic"] >= 1, (name, topics)
        assert topics["data-science-adjacent"] >= 4, (name, topics)


def test_ids_are_unique_across_both_halves_and_carry_their_half(cases_by_file):
    ids = Counter(case.id for file_cases in cases_by_file.values() for case in file_cases)
    assert not [i for i, n in ids.items() if n > 1], "ids are unique across both halves"
    for name, file_cases in cases_by_file.items():
        assert all(case.id.startswith(("ds-a-", "ds-b-")) for case in file_cases), name


def test_the_course_lessons_license_and_source_notes():
    lessons = sorted(p.name for p in COURSE.iterdir())
    assert len(lessons) >= 10 and all(LESSON_NAME.match(name) for name in lessons), lessons
    numbers = [int(name[:2]) for name in lessons]
    assert numbers == list(range(1, len(lessons) + 1)), "lessons are numbered in curriculum order, none missing"
    license_text = (DEV_DATASCI / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License") and "Permission is hereby granted" in license_text
    source_notes = " ".join(p.read_text(encoding="utf-8") for p in DEV_DATASCI.glob("SOURCE*.md"))
    assert "microsoft/Data-Science-For-Beginners" in source_notes
    assert all(name in source_notes for name in lessons), "the source notes name every lesson file"


def test_the_course_is_not_part_of_the_shipped_corpus():
    shipped = {p.name for p in (REPO / "corpus").rglob("*") if p.is_file()}
    assert not shipped & {p.name for p in COURSE.iterdir()}
    assert not COURSE.resolve().is_relative_to((REPO / "corpus").resolve())


def test_every_gold_source_is_a_lesson_of_the_course(cases):
    missing = {(case.id, gold.source) for case in cases for gold in case.sources if not (COURSE / gold.source).is_file()}
    assert not missing, missing


def test_every_gold_section_is_a_section_our_ingest_makes(cases, course_chunks):
    sections = {(c.source, c.section) for c in course_chunks}
    unknown = [
        (case.id, gold.label()) for case in cases for gold in case.sources
        if not any(gold.matches(source, section, None) for source, section in sections)
    ]
    assert not unknown, unknown


def test_every_key_fact_is_in_a_gold_passage(cases, course_chunks):
    """Each fact has an alternative in the text of its gold sections (with their lesson title and section path,
    for the 'which lesson covers X?' questions), as the dev set's README asks."""
    unmet = []
    for case in cases:
        if not case.in_scope:
            assert case.must_include == [] and case.sources == [], case.id
            continue
        passages = " \n".join(f"{c.title}\n{c.section}\n{c.text}" for c in _gold_chunks(course_chunks, case)).lower()
        unmet += [(case.id, fact) for fact in case.must_include if not any(alt.lower() in passages for alt in fact)]
    assert not unmet, unmet


def test_multi_section_questions_list_more_than_one_passage(cases):
    thin = [case.id for case in cases if case.type == "multi-section" and len(case.sources) < 2]
    assert not thin, thin


def test_follow_ups_carry_the_conversation_they_follow(cases):
    follow_ups = [case for case in cases if case.type == "follow-up"]
    assert len(follow_ups) >= 4
    for case in follow_ups:
        assert case.history and case.history[0]["role"] == "user" and case.history[-1]["role"] == "assistant", case.id
