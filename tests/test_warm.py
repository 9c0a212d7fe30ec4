"""Warming a guide (Guide.warm, run by `serve` in the background at start): the live generation's generated questions
are embedded before anyone asks, so a warm answer encodes only its own question."""
from __future__ import annotations

import logging

import numpy as np

from app.engine.answer import answer_question
from app.engine.guide import open_guide
from app.web.server import warm_in_background
from core.mining import chunk_questions
from core.settings import Settings


class CountingEmbedder:
    """The real model, recording how many texts each encode call was given."""

    def __init__(self, embedder):
        self.inner = embedder
        self.batches: list[int] = []

    def encode(self, texts, batch_size: int = 32) -> np.ndarray:
        self.batches.append(len(texts))
        return self.inner.encode(texts, batch_size=batch_size)


def test_a_warmed_guide_embeds_every_chunks_questions_and_a_question_then_encodes_only_itself(settings, run_ingest, embedder):
    run_ingest(settings)
    counting = CountingEmbedder(embedder)
    guide = open_guide(settings, counting)
    chunks = guide.lexical().chunks
    with_questions = [chunk for chunk in chunks if chunk_questions(chunk)]
    assert with_questions, "the fixture course has headings, so its chunks have generated questions"

    assert guide.warm(batch=4) == len(chunks)
    cache = guide.derived("generated_question_vectors", dict)
    assert {chunk.id for chunk in chunks} <= set(cache)
    assert all(len(cache[chunk.id]) == len(chunk_questions(chunk)) for chunk in with_questions)
    assert max(counting.batches) <= 4 * max(len(chunk_questions(c)) for c in chunks)  # in batches of 4 chunks

    counting.batches.clear()
    answer = answer_question(guide, "What is a refractor?")
    assert not answer.refused
    assert counting.batches == [1], "a warm answer encodes its question alone"
    assert guide.warm() == 0, "nothing is left to embed"


def test_a_course_larger_than_the_limit_is_left_to_warm_as_it_is_asked_about(settings, run_ingest, embedder):
    run_ingest(settings)
    counting = CountingEmbedder(embedder)
    guide = open_guide(settings, counting)
    assert guide.warm(limit=1) == 0
    assert counting.batches == []


def test_warming_a_course_with_no_index_yet_says_so_and_does_not_raise(tmp_path, embedder, caplog):
    guide = open_guide(Settings(corpus_dir=tmp_path / "course", db_dir=tmp_path / "no-index"), embedder, require_index=False)
    with caplog.at_level(logging.INFO, logger="course_guide"):
        thread = warm_in_background(guide)
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert any("not warming the default course" in record.getMessage() for record in caplog.records)
