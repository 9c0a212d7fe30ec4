"""Hybrid retrieval: fusion and MMR on hand-made numbers, BM25 kept in step with incremental ingest, look-ups,
near-copies, split passages and the lesson hint, with the real model and a real Chroma."""
from __future__ import annotations

import numpy as np
import pytest

from app.engine.answer import answer_question
from app.engine.guide import open_guide
from app.engine.questions import UnknownLessonError
from app.engine.retrieval import LexicalIndex, QuestionIndex, RetrievalConfig, fuse, hybrid_search, mmr
from core.mining import chunk_questions
from core.text import content_words
from core.types import Chunk


def test_weighted_fusion_mixes_cosine_with_normalised_bm25():
    config = RetrievalConfig(fusion="weighted", dense_weight=0.7)
    fused = fuse({"a": 0.6, "b": 0.4}, {"b": 10.0, "c": 5.0}, config)
    # a: 0.7*0.6 + 0 ; b: 0.7*0.4 + 0.3*1.0 ; c: 0 + 0.3*0.5
    assert fused == pytest.approx({"a": 0.42, "b": 0.58, "c": 0.15})


def test_reciprocal_rank_fusion_sums_one_over_sixty_plus_rank():
    fused = fuse({"a": 0.9, "b": 0.5}, {"b": 3.0, "a": 1.0}, RetrievalConfig(fusion="rrf"))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62) and fused["b"] == pytest.approx(1 / 62 + 1 / 61)


def test_mmr_skips_a_near_copy_for_the_next_distinct_passage():
    vectors = {k: np.asarray(v, dtype=np.float32) for k, v in {"a": [1, 0], "a-copy": [1, 0], "b": [0, 1]}.items()}
    relevance = {"a": 1.0, "a-copy": 0.99, "b": 0.6}
    assert mmr(["a", "a-copy", "b"], relevance, vectors, k=2, lam=0.75) == ["a", "b"]
    # With nothing else left, the copy is still returned rather than fewer than k passages.
    assert mmr(["a", "a-copy"], relevance, vectors, k=2, lam=0.75) == ["a", "a-copy"]


def test_bm25_follows_incremental_ingest_without_stale_chunks(settings, run_ingest, embedder, course):
    run_ingest(settings)
    guide = open_guide(settings.model_copy(update={"refusal_threshold": 0.0}), embedder)
    first = guide.lexical()
    assert guide.lexical() is first, "one BM25 index per generation, not one per question"
    assert any("Newton" in hit.chunk.text for hit in guide.retrieve("Newton", k=3))

    lesson = course / "01-telescopes.md"
    lesson.write_text(lesson.read_text().replace("Isaac Newton", "Zorblatt Quimby"))
    report = run_ingest(settings)
    assert report.embedded > 0
    hits = guide.retrieve("Zorblatt Quimby reflector", k=3)
    assert guide.lexical() is not first
    assert "Zorblatt Quimby" in hits[0].chunk.text
    assert not any("Newton" in hit.chunk.text for hit in guide.retrieve("Newton", k=10)), "no stale chunk"
    live = {chunk.id for chunk in guide.index.chunks()}
    assert all(hit.chunk.id in live for hit in hits)
    # The BM25 half on its own: the added words are in its postings, the removed one is gone.
    assert "Zorblatt Quimby" in guide.lexical().search("Zorblatt", 5)[0][0].text
    assert not any("Newton" in chunk.text for chunk, _ in guide.lexical().search("Newton", 10))


def _chunk(number: int, text: str) -> Chunk:
    return Chunk(f"c{number}", text, "01-optics.md", "Optics", f"Optics > Part {number}", None, None, number, "sha")


@pytest.mark.parametrize(
    "texts",
    [
        ["A convex lens bends light to a focus.", "A concave mirror focuses light too.", "Prisms split light into colours.",
         "Lens makers grind glass; a lens lens lens repeated.", "Telescopes gather light with a lens or a mirror."],
        ["Only one chunk about a lens."],
        ["A lens.", "Another lens."],
    ],
    ids=["five-chunks-with-a-word-in-most", "one-chunk", "two-chunks-sharing-every-word"],
)
def test_bm25s_scores_are_rank_bm25_okapi_scores(texts):
    """The bm25s index holds BM25Okapi's scores exactly (k1 1.5, b 0.75, the IDF floor for common words), so
    swapping libraries changed no ranking the fusion weights were tuned on."""
    from rank_bm25 import BM25Okapi

    chunks = [_chunk(i, text) for i, text in enumerate(texts)]
    lexical = LexicalIndex("gen-test", chunks)
    okapi = BM25Okapi([content_words(chunk.embed_text()) for chunk in chunks])
    for question in ("lens light", "lens lens mirror", "prisms colours", "quasar", "light"):
        expected = okapi.get_scores(content_words(question))
        want = [(chunks[i].id, pytest.approx(expected[i], abs=1e-9)) for i in np.argsort(-expected, kind="stable") if expected[i] > 0]
        got = [(chunk.id, score) for chunk, score in lexical.search(question, k=len(chunks))]
        assert got == want, question
        # Top k without a full sort keeps the same order, ties included.
        assert [c.id for c, _ in lexical.search(question, k=2)] == [i for i, _ in want][:2]


@pytest.mark.parametrize(
    "question, source, section",
    [
        ("What is LIME?", "12-governance-and-responsible-ml.md", "Explainability"),
        ("What does Evidently do?", "09-model-monitoring.md", "Monitoring tools"),
        ("What is point-in-time correctness?", "10-feature-stores.txt", "Point-in-time correctness"),
        ("PSI?", "09-model-monitoring.md", "Population Stability Index"),
    ],
    ids=["LIME", "Evidently", "point-in-time", "PSI"],
)
def test_short_lookups_of_tool_names_and_acronyms_are_found_and_answered(shipped_guide, question, source, section):
    """Dense retrieval alone refused these (README, 'Retrieval'); BM25 finds the exact term."""
    answer = answer_question(shipped_guide, question)
    assert not answer.refused, answer.answer
    top = answer.retrieved[0].chunk
    assert top.source == source and section in top.section


def test_a_list_split_across_chunks_is_answered_whole(shipped_guide):
    answer = answer_question(shipped_guide, "What are the benefits of MLOps?")
    for item in ("Complexity Management", "Rapid Evolution", "Scalability", "Reproducibility and Transparency",
                 "Integration into Business Processes"):
        assert item in answer.answer
    assert len({c.chunk_id for c in answer.citations}) == 2, "the list's second half cites the chunk it is in"
    continuation = [hit for hit in answer.retrieved if hit.neighbour_of]
    assert continuation and all(hit.neighbour_of in {h.chunk.id for h in answer.retrieved} for hit in continuation)


def test_ranked_passages_are_not_near_copies(shipped_guide):
    hits = [hit for hit in shipped_guide.retrieve("What is MLOps?", k=5) if hit.neighbour_of is None]
    vectors = shipped_guide.index.embeddings([hit.chunk.id for hit in hits])
    for i, a in enumerate(hits):
        for b in hits[i + 1 :]:
            assert float(vectors[a.chunk.id] @ vectors[b.chunk.id]) < 0.95


def test_lesson_hint_prefers_that_lesson_without_hiding_a_better_match(shipped_guide):
    ambiguous = "Which tools are popular?"

    def first_rank(hits, lesson):
        return next((i for i, hit in enumerate(hits) if hit.chunk.source == lesson and hit.neighbour_of is None), None)

    for lesson in ("09-model-monitoring.md", "11-pipelines-and-orchestration.md", "05-experiment-tracking.md"):
        plain = first_rank(shipped_guide.retrieve(ambiguous, k=10), lesson)
        hinted = first_rank(shipped_guide.retrieve(ambiguous, lesson=lesson), lesson)
        assert hinted is not None, f"{lesson} is among the passages when it is the hinted lesson"
        assert plain is None or hinted <= plain
    # A question clearly about another lesson still gets that lesson first.
    clear = shipped_guide.retrieve("What is a feature store?", lesson="09-model-monitoring.md")
    assert clear[0].chunk.source == "10-feature-stores.txt"


@pytest.mark.parametrize(
    "hint, source",
    [("model-monitoring", "09-model-monitoring.md"), ("09-model-monitoring", "09-model-monitoring.md"),
     ("09-model-monitoring.md", "09-model-monitoring.md"), ("/feature-stores/", "10-feature-stores.txt")],
    ids=["slug", "stem", "file", "slashes"],
)
def test_lesson_hints_name_a_lesson_by_file_or_slug(shipped_guide, hint, source):
    assert shipped_guide.resolve_lesson(hint) == source


def test_unknown_lesson_hint_is_a_clear_error(shipped_guide):
    with pytest.raises(UnknownLessonError, match="no lesson called 'quantum-cooking'.*01-introduction-to-mlops.md"):
        answer_question(shipped_guide, "What is MLOps?", lesson="quantum-cooking")


def _section_chunk(section: str, text: str, title: str = "Model Monitoring") -> Chunk:
    return Chunk(id=section, text=text, source="09-model-monitoring.md", title=title, section=section, anchor=None,
                 page=None, ordinal=0, file_sha="0" * 64)


def test_generated_questions_come_from_the_heading_and_the_defined_terms():
    drift = _section_chunk("Model Monitoring > Data drift", "- **PSI**: a measure of how far a feature's distribution has shifted.\n"
                   "- **KS test**: a statistical test that compares two samples of one feature.")
    assert chunk_questions(drift) == ["What is Data drift?", "What is PSI?", "What is KS test?"]
    asked = _section_chunk("Model Monitoring > What is model monitoring?", "Watching a model in production for problems.")
    assert chunk_questions(asked) == ["What is model monitoring?"]
    assert chunk_questions(_section_chunk("Model Monitoring > Summary", "Watch inputs and outputs.")) == []
    # The lesson's opening section is headed by the lesson title, which every question about the lesson resembles.
    assert chunk_questions(_section_chunk("Model Monitoring", "This lesson covers monitoring.")) == []


def test_question_index_embeds_each_chunks_questions_once_and_gives_its_closest():
    from tests.fake_embedder import HashingEmbedder

    class Counting(HashingEmbedder):
        def __init__(self) -> None:
            super().__init__()
            self.batches: list[list[str]] = []

        def encode(self, texts, **kwargs):
            self.batches.append(list(texts))
            return super().encode(texts, **kwargs)

    embedder = Counting()
    drift = _section_chunk("Model Monitoring > Data drift", "- **PSI**: a measure of how far a feature's distribution has shifted.")
    summary = _section_chunk("Model Monitoring > Summary", "Watch inputs and outputs.")  # no generated question
    index = QuestionIndex(embedder, {})
    query = embedder.encode(["What is PSI?"])[0]
    embedder.batches.clear()
    closest = index.closest(query, [drift, summary])
    assert embedder.batches == [["What is Data drift?", "What is PSI?"]]  # one batch, only the chunks' questions
    assert set(closest) == {drift.id} and closest[drift.id] == pytest.approx(1.0, abs=1e-5)
    assert index.closest(query, [drift, summary]) == closest and len(embedder.batches) == 1  # kept, not embedded again


@pytest.mark.parametrize("question", ["What is KServe?", "TFDV?", "Every team keeps recomputing the same customer attributes."])
def test_generated_questions_reorder_the_chosen_passages_but_keep_the_set(shipped_guide, question):
    """With `question_pool=0` they only reorder what MMR chose, so hit@5 and the refusal evidence cannot change (the
    default pool, which may change the set, is tested in tests/test_retrieval3.py)."""
    vector = shipped_guide.embedder.encode([question])[0]
    config = RetrievalConfig(neighbours=False, question_pool=0)
    plain = hybrid_search(question, vector, shipped_guide.index, shipped_guide.lexical(), 5, config)
    asked = hybrid_search(question, vector, shipped_guide.index, shipped_guide.lexical(), 5, config,
                          questions=shipped_guide.question_index())
    assert {hit.chunk.id for hit in plain} == {hit.chunk.id for hit in asked}
    assert max(hit.score for hit in plain) == max(hit.score for hit in asked)


def test_a_look_up_worded_like_a_generated_question_ranks_its_passage_first(shipped_guide):
    """'What is KServe?' matches the generated question of the 'Serving tools' list that defines it; without the
    generated questions that passage was third (dev set, lookup-kserve)."""
    top = shipped_guide.retrieve("What is KServe?")[0].chunk
    assert top.source == "08-deployment-and-serving.md" and top.section.endswith("Serving tools")
    top_chunk = shipped_guide.retrieve("What is KServe?")[0].chunk
    assert "What is KServe?" in chunk_questions(top_chunk)
