"""Generated questions re-scoring the best fused candidates before MMR (RetrievalConfig.question_pool): a passage
just below the top k whose generated question matches the learner's is chosen, with the real model and the shipped course."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from app.engine.retrieval import LexicalIndex, RetrievalConfig, hybrid_search
from core.types import Chunk, RetrievedChunk

# Dev-set paraphrase (para-where-approved-models-live): no word of "model registry", but its generated question
# "What a model registry is" is the closest of the candidates ranked 6th to 10th.
SIGNED_OFF = "Where should signed-off models be kept so the release job knows which one to ship?"


# The measured setting (README, 'How answers are made'), the default since the refusal evidence no longer depends on the ranking.
POOLED = RetrievalConfig(dense_weight=0.7, question_pool=10)


def _sections(guide, question: str, config: RetrievalConfig) -> list[str]:
    vector = guide.embedder.encode([question])[0]
    hits = hybrid_search(question, vector, guide.index, guide.lexical(), 5, config, questions=guide.question_index())
    return [hit.chunk.section for hit in hits]


def test_the_question_pool_brings_a_passage_from_below_the_top_five_into_it(shipped_guide):
    with_pool = _sections(shipped_guide, SIGNED_OFF, replace(POOLED, neighbours=False))
    reorder_only = _sections(shipped_guide, SIGNED_OFF, replace(POOLED, neighbours=False, question_pool=0))
    registry = "Model Registry and Packaging > What a model registry is"
    assert registry in with_pool
    assert registry not in reorder_only, "without the pool the generated questions only reorder the chosen five"


def test_the_pool_is_the_default():
    assert RetrievalConfig().question_pool == POOLED.question_pool and RetrievalConfig().dense_weight == POOLED.dense_weight


def test_the_refusal_evidence_is_the_courses_closest_passage_whatever_the_ranking_chose(shipped_guide):
    """The pool changes which passages are ranked; the refusal's closeness is the closest passage of the whole course,
    so a question is not answered or refused because of which passages the ranking happened to keep."""
    question = "I only tweaked the learning rate, so why should the whole slow data extraction run again?"
    vector = shipped_guide.encode_question(question)
    closest = shipped_guide.index.search(vector, 1)[0]
    ranked = [hit for hit in shipped_guide.retrieve(question) if hit.neighbour_of is None and hit.chunk.id != closest.chunk.id]
    evidence = shipped_guide.scope(question, ranked)
    assert evidence.best_similarity == pytest.approx(closest.score)
    assert evidence.best_similarity > max(hit.score for hit in ranked)


def test_an_answer_searches_once_and_gets_the_same_passages_and_evidence_as_retrieve_and_scope(shipped_guide, monkeypatch):
    """The answer path (Guide.retrieve_and_scope) encodes the question once and makes one dense search, shared by the
    ranking and the refusal evidence; what it gives is what retrieve and scope give one at a time."""
    question = "Is there a way to let only a handful of users get the new version first and widen it gradually?"
    hits, evidence = shipped_guide.retrieve(question), shipped_guide.scope(question, shipped_guide.retrieve(question))
    searches: list[int] = []
    search = shipped_guide.index.search
    monkeypatch.setattr(shipped_guide.index, "search", lambda vector, k: searches.append(k) or search(vector, k))
    together_hits, together_evidence = shipped_guide.retrieve_and_scope(question)
    assert searches == [RetrievalConfig().candidates]
    assert [hit.chunk.id for hit in together_hits] == [hit.chunk.id for hit in hits]
    assert together_evidence.best_similarity == pytest.approx(evidence.best_similarity, abs=1e-5)
    assert together_evidence.covered_similarity == pytest.approx(evidence.covered_similarity, abs=1e-5)
    assert together_evidence.unknown_words == evidence.unknown_words


class _Vectors:
    """A VectorSearch over hand-made unit vectors: each chunk's cosine to the query is its first coordinate."""

    def __init__(self, chunks: list[Chunk], vectors: dict[str, np.ndarray]):
        self.chunks, self.vectors = chunks, vectors

    def search(self, query_embedding: np.ndarray, k: int) -> list[RetrievedChunk]:
        scored = sorted(self.chunks, key=lambda c: -float(self.vectors[c.id] @ query_embedding))
        return [RetrievedChunk(c, score=float(self.vectors[c.id] @ query_embedding)) for c in scored[:k]]

    def embeddings(self, ids: list[str]) -> dict[str, np.ndarray]:
        return {i: self.vectors[i] for i in ids}


class _QuestionsFor:
    """A QuestionIndex whose closest generated question to the query is given per chunk id."""

    def __init__(self, closest: dict[str, float]):
        self.given = closest
        self.asked: list[list[str]] = []

    def closest(self, query_vector: np.ndarray, chunks) -> dict[str, float]:
        self.asked.append([c.id for c in chunks])
        return {c.id: self.given[c.id] for c in chunks if c.id in self.given}


def _unit(cosine: float, axis: int) -> np.ndarray:
    vector = np.zeros(8, dtype=np.float32)
    vector[0], vector[axis] = cosine, np.sqrt(1 - cosine**2)
    return vector


@pytest.mark.parametrize("pool, chosen", [(10, True), (0, False)])
def test_a_sixth_candidate_with_a_matching_generated_question_is_chosen_only_with_the_pool(pool, chosen):
    """Named input: seven passages with cosines 0.60 down to 0.48 (each along its own axis, so MMR sees them as
    distinct) and no word of the question in any; only the sixth has a matching generated question (cosine 0.9).
    Re-scored before MMR it gets 0.7 * 0.50 + 0.2 * 0.9 = 0.53, over the first's 0.7 * 0.60 = 0.42; without the pool
    MMR never sees the bonus and the five best cosines are chosen."""
    names = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh"]
    chunks = [Chunk(name, f"Passage {name}.", "01-x.md", "X", f"X > {name}", None, None, i, "0" * 64) for i, name in enumerate(names)]
    vectors = {name: _unit(0.60 - 0.02 * i, i + 1) for i, name in enumerate(names)}
    questions = _QuestionsFor({"sixth": 0.9})
    config = RetrievalConfig(mode="hybrid", dense_weight=0.7, question_pool=pool, neighbours=False)
    query = np.zeros(8, dtype=np.float32)
    query[0] = 1.0
    hits = hybrid_search("zzz", query, _Vectors(chunks, vectors), LexicalIndex("g", chunks), 5, config,
                         questions=questions)  # type: ignore[arg-type]
    ids = [hit.chunk.id for hit in hits]
    assert ("sixth" in ids) is chosen
    if chosen:
        assert ids[0] == "sixth" and set(questions.asked[0]) == set(names), "the pool holds every candidate up to 10"
    else:
        assert ids == names[:5] and questions.asked == [ids], "only the chosen five are asked about, to reorder them"


BENEFITS = "What are the benefits of MLOps?"  # the benefits list of 'Why is MLOps Important?' is split over two chunks


def test_a_chosen_continuation_comes_back_as_the_continuation_of_its_first_half(shipped_guide):
    """Named input: with the pool, both halves of the split benefits list are among MMR's five; the second is left
    out for the next choice and returned as the first half's continuation, so the answerer joins the list."""
    lexical = shipped_guide.lexical()
    vector = shipped_guide.embedder.encode([BENEFITS])[0]
    hits = hybrid_search(BENEFITS, vector, shipped_guide.index, lexical, 5, POOLED, questions=shipped_guide.question_index())
    ranked = [hit for hit in hits if hit.neighbour_of is None]
    assert len(ranked) == 5
    for i, hit in enumerate(ranked):
        before = lexical.neighbour(hit.chunk, -1)
        above = {h.chunk.id for h in ranked[:i]}
        assert before is None or before.id not in above, f"{hit.chunk.section} continues a passage ranked above it"
    first = next(hit for hit in ranked if hit.chunk.section == "Introduction to MLOps > Why is MLOps Important?")
    assert [hit.chunk.section for hit in hits if hit.neighbour_of == first.chunk.id] == [first.chunk.section]

    # Switched off (no continuations, as with neighbours=False), the second half is ranked as a passage of its own.
    plain = hybrid_search(BENEFITS, vector, shipped_guide.index, lexical, 5, replace(POOLED, neighbours=False),
                          questions=shipped_guide.question_index())
    continuing = [hit for hit in plain if (before := lexical.neighbour(hit.chunk, -1)) is not None
                  and before.id in {h.chunk.id for h in plain}]
    assert continuing, "the named input must have both halves among the five for this test to mean anything"
