"""The second dev course (Data Science for Beginners) and its questions (eval/datasets/dev_datasci*): every line valid,
every gold source and section real after ingest, every key fact in its gold passage, the license kept. No scores here."""
from __future__ import annotations

import re
from collections import Counter

import pytest

from core.types import Chunk
from eval.dataset import CASE_TYPES, OUT_OF_SCOPE, EvalCase
from tests.course_datasets import (
    REPO,
    check_follow_ups,
    course_chunks,
    missing_gold_sources,
    shared_with_shipped_corpus,
    thin_multi_section,
    unknown_gold_sections,
    unmet_key_facts,
    valid_cases,
)

DEV_DATASCI = REPO / "eval" / "datasets" / "dev_datasci"
COURSE = DEV_DATASCI / "course"
DATASET = REPO / "eval" / "datasets" / "dev_datasci.jsonl"
# Its ids say which half of the course they were written for (ds-a-: lessons 1-10, ds-b-: lessons 11-20).
HALVES = ("ds-a-", "ds-b-")
LESSON_NAME = re.compile(r"^\d\d-[a-z0-9-]+\.md$")


@pytest.fixture(scope="module")
def ds_chunks(tmp_path_factory, fake_embedder) -> list[Chunk]:
    return course_chunks(COURSE, tmp_path_factory.mktemp("dev_datasci") / "index", fake_embedder)


@pytest.fixture(scope="module")
def cases() -> list[EvalCase]:
    return valid_cases(DATASET)


def test_each_half_has_the_agreed_size_and_spread(cases):
    for half in HALVES:
        half_cases = [case for case in cases if case.id.startswith(half)]
        counts = Counter(case.type for case in half_cases)
        in_scope = [case for case in half_cases if case.in_scope]
        assert len(in_scope) >= 25 and counts[OUT_OF_SCOPE] >= 6, (half, counts)
        assert set(counts) == set(CASE_TYPES), f"{half}: every kind of question is represented: {counts}"
        assert not any(case.synthetic for case in half_cases), half
        topics = Counter(case.topic for case in half_cases if not case.in_scope)
        assert topics["prompt injection"] >= 1 and topics["off-topic"] >= 1, (half, topics)
        assert topics["data-science-adjacent"] >= 4, (half, topics)


def test_ids_are_unique_and_carry_their_half(cases):
    ids = Counter(case.id for case in cases)
    assert not [i for i, n in ids.items() if n > 1], "ids are unique across both halves"
    assert all(case.id.startswith(HALVES) for case in cases)


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
    assert not shared_with_shipped_corpus(COURSE)


def test_every_gold_source_is_a_lesson_of_the_course(cases):
    missing = missing_gold_sources(cases, COURSE)
    assert not missing, missing


def test_every_gold_section_is_a_section_our_ingest_makes(cases, ds_chunks):
    unknown = unknown_gold_sections(cases, ds_chunks)
    assert not unknown, unknown


def test_every_key_fact_is_in_a_gold_passage(cases, ds_chunks):
    unmet = unmet_key_facts(cases, ds_chunks)
    assert not unmet, unmet


def test_multi_section_questions_list_more_than_one_passage(cases):
    thin = thin_multi_section(cases)
    assert not thin, thin


def test_follow_ups_carry_the_conversation_they_follow(cases):
    check_follow_ups(cases, at_least=4)
