"""The held-out web-development course and its questions (eval/datasets/heldout_webdev*): every line valid, every gold
source and section real after ingest, every key fact in its gold passage, the license kept. No scores are gated here."""
from __future__ import annotations

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
    unknown_gold_sections,
    unmet_key_facts,
    valid_cases,
)

HELDOUT = REPO / "eval" / "datasets" / "heldout_webdev"
COURSE = HELDOUT / "course"
DATASET = REPO / "eval" / "datasets" / "heldout_webdev.jsonl"


@pytest.fixture(scope="module")
def heldout_chunks(tmp_path_factory, fake_embedder) -> list[Chunk]:
    return course_chunks(COURSE, tmp_path_factory.mktemp("heldout") / "index", fake_embedder)


@pytest.fixture(scope="module")
def cases() -> list[EvalCase]:
    return valid_cases(DATASET)


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
    assert not shared_with_shipped_corpus(COURSE)


def test_every_gold_source_is_a_file_of_the_held_out_course(cases):
    missing = missing_gold_sources(cases, COURSE)
    assert not missing, missing


def test_every_gold_section_is_a_section_our_ingest_makes(cases, heldout_chunks):
    unknown = unknown_gold_sections(cases, heldout_chunks)
    assert not unknown, unknown


def test_every_key_fact_is_in_a_gold_passage(cases, heldout_chunks):
    unmet = unmet_key_facts(cases, heldout_chunks)
    assert not unmet, unmet


def test_follow_ups_carry_the_conversation_they_follow(cases):
    check_follow_ups(cases, at_least=5)
