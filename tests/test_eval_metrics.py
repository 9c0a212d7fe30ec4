"""The eval's metric functions on hand-computed examples, and dataset and thresholds validation naming each bad input."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from core import citations
from core.types import Answer, Chunk, Citation, RetrievedChunk
from eval import metrics as m
from eval.compare import ThresholdsError, load_thresholds
from eval.dataset import DatasetError, EvalCase, GoldSource, load_dataset
from eval.harness import score_case

NO = frozenset()


def gold(*ids: int) -> frozenset[int]:
    return frozenset(ids)


# Ranked passages: 2nd from gold source 0, 4th from gold source 1, 5th from gold source 0 again.
RANKING = [NO, gold(0), NO, gold(1), gold(0)]


def test_hit_at_k():
    assert m.hit_at_k(RANKING, 1) == 0.0
    assert m.hit_at_k(RANKING, 2) == 1.0
    assert m.hit_at_k([NO, NO], 5) == 0.0


def test_recall_at_k_counts_distinct_gold_sources():
    assert m.recall_at_k(RANKING, 2, 3) == 0.5
    assert m.recall_at_k(RANKING, 2, 5) == 1.0
    assert m.recall_at_k([gold(0), gold(0)], 2, 5) == 0.5


def test_reciprocal_rank():
    assert m.reciprocal_rank(RANKING) == 0.5
    assert m.reciprocal_rank([gold(0)]) == 1.0
    assert m.reciprocal_rank([NO, NO, NO]) == 0.0


def test_ndcg_gains_once_per_gold_source():
    # Gains at ranks 2 and 4 (rank 5 repeats source 0); the ideal puts both sources at ranks 1 and 2.
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert m.ndcg_at_k(RANKING, 2, 10) == pytest.approx(expected)
    assert round(expected, 4) == 0.6509
    assert m.ndcg_at_k([gold(0), gold(1)], 2) == pytest.approx(1.0)
    assert m.ndcg_at_k([NO, gold(0)], 1, k=1) == 0.0


def test_key_fact_recall_any_alternative_counts_and_plurals_fold():
    answer = "Models drift when the incoming data changes. [1]"
    assert m.key_fact_recall(answer, [["data drift", "drift"], ["retrain"]]) == 0.5
    assert m.key_fact_recall(answer, [["model"]]) == 1.0  # "Models" states it
    assert m.key_fact_recall(answer, [["incoming data changes"]]) == 1.0
    assert m.key_fact_recall(answer, [["data incoming"]]) == 0.0  # a phrase, not a bag of words
    assert m.key_fact_recall(answer, []) is None
    assert m.key_fact_recall("It is 5,800 kelvin [1]", [["5,800 kelvin"]]) == 1.0


def test_token_f1_over_content_words():
    # content words: answer {cat, sat, mat}, reference {cat, sat}: P = 2/3, R = 1, F1 = 0.8
    assert m.token_f1("The cat sat on the mat. [1]", "A cat sat") == pytest.approx(0.8)
    assert m.token_f1("nothing alike", "completely different") == 0.0


def test_answer_sentences_follow_markers_and_keep_uncited_text():
    answer = "Drift is change. [1] It hurts models [2]\n\n- first item [1]\n- second item [1][3]\nTrailing claim."
    got = citations.marked_stretches(answer)
    assert [(s.text, s.markers) for s in got] == [
        ("Drift is change.", (1,)), ("It hurts models", (2,)), ("first item", (1,)),
        ("second item", (1, 3)), ("Trailing claim.", ()),
    ]


def test_code_indexing_is_not_a_citation_marker():
    assert citations.MARKER.findall("use x[0] and y [2]") == ["2"]


def test_find_span_matches_across_line_breaks_only_word_for_word():
    passage = "Intro.\nA refractor uses a\nlens as its objective. Next."
    start, end = m.find_span("A refractor uses a lens as its objective.", passage)
    assert passage[start:end] == "A refractor uses a\nlens as its objective."
    assert m.find_span("A refractor uses a mirror.", passage) is None


def test_ratio_estimate_gives_refusal_precision_and_recall():
    out_of_scope = [1, 1, 0, 0]
    refused = [1, 0, 1, 0]
    correct = [a * b for a, b in zip(out_of_scope, refused)]
    recall = m.ratio_estimate(correct, out_of_scope)
    precision = m.ratio_estimate(correct, refused)
    assert (recall.value, recall.n) == (0.5, 2)
    assert (precision.value, precision.n) == (0.5, 2)
    assert m.ratio_estimate([0, 0], [0, 0]).value is None


def test_bootstrap_ci_is_fixed_and_brackets_the_mean():
    values = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1]
    first, second = m.mean_estimate(values), m.mean_estimate(values)
    assert first == second
    assert first.low <= first.value == 0.7 <= first.high
    assert first.low < first.high
    constant = m.mean_estimate([1.0, 1.0, 1.0, None])
    assert (constant.value, constant.low, constant.high, constant.n) == (1.0, 1.0, 1.0, 3)
    p50 = m.percentile_estimate([10, 20, 30, 40, 50], 50)
    assert p50.value == 30 and p50.low <= 30 <= p50.high


def test_gold_source_matches_section_prefix_and_page():
    lesson = GoldSource("09-model-monitoring.md", "Model Monitoring and Drift > Data drift")
    assert lesson.matches("09-model-monitoring.md", "Model Monitoring and Drift > Data drift", None)
    assert lesson.matches("09-model-monitoring.md", "Model Monitoring and Drift > Data drift > PSI", None)
    assert not lesson.matches("09-model-monitoring.md", "Model Monitoring and Drift > Data drifts", None)
    assert not lesson.matches("08-deployment.md", "Model Monitoring and Drift > Data drift", None)
    page = GoldSource("13-mlops-tool-landscape.pdf", page=2)
    assert page.matches("13-mlops-tool-landscape.pdf", "anything", 2)
    assert not page.matches("13-mlops-tool-landscape.pdf", "anything", 3)


def _chunk(text: str, n: int, section: str = "Telescopes > Refractors") -> Chunk:
    return Chunk(id=f"c{n}", text=text, source="01-telescopes.md", title="Telescopes", section=section,
                 anchor=None, page=None, ordinal=n, file_sha="x")


def test_faithfulness_and_citation_checks_of_a_hand_made_answer(embedder):
    gold_chunk = _chunk("A refractor is a telescope that uses a lens as its objective.\nRefractors are sealed tubes.", 0)
    other = _chunk("A reflector uses a curved mirror.", 1, "Telescopes > Reflectors")
    retrieved = [RetrievedChunk(gold_chunk, 0.8), RetrievedChunk(other, 0.6)]
    citations = [Citation.for_chunk(1, gold_chunk, "http://x"), Citation.for_chunk(2, other, "http://x")]
    text = ("A refractor is a telescope that uses a lens as its objective. [1] Refractors never need cleaning. [1] "
            "A reflector uses a curved mirror. [2] It is old. [4]")
    answer = Answer(question="What is a refractor?", answer=text, refused=False, citations=citations, retrieved=retrieved)
    case = EvalCase(id="t", question="What is a refractor?", reference_answer="A telescope with a lens.",
                    must_include=[["lens"], ["sealed"]], sources=[GoldSource("01-telescopes.md", "Telescopes > Refractors")],
                    type="factual", topic="telescopes")
    result = score_case(case, answer, "Telescopes", 12.0, embedder, (0.36, 0.1))
    assert [s["supported"] for s in result.sentences] == [True, False, True, False]
    assert result.metrics["faithfulness"] == 0.5
    assert result.metrics["citation_validity"] == 0.75  # [4] resolves to nothing
    assert result.metrics["citation_precision"] == 0.5  # [2] is not from the gold section
    assert result.metrics["key_fact_recall"] == 0.5
    assert (result.metrics["hit_at_1"], result.metrics["mrr"]) == (1.0, 1.0)
    span = result.sentences[0]["span"]
    assert gold_chunk.text[span[0]:span[1]] == "A refractor is a telescope that uses a lens as its objective."
    failed = {c.name: c.why for c in result.checks if not c.passed}
    assert set(failed) == {"key_facts", "faithful", "citations_valid"}
    assert "'sealed'" in failed["key_facts"] and "Refractors never need cleaning" in failed["faithful"]


def test_generated_sentences_are_judged_by_overlap_and_similarity(embedder):
    passage = _chunk("A refractor is a telescope that uses a lens as its objective.", 0)
    retrieved = [RetrievedChunk(passage, 0.8)]
    text = "Refractors are telescopes whose objective is a lens. [1] Bananas are rich in potassium. [1]"
    answer = Answer(question="q", answer=text, refused=False, citations=[Citation.for_chunk(1, passage, "http://x")],
                    retrieved=retrieved, answerer="llm")
    case = EvalCase(id="g", question="q", reference_answer="r", must_include=[], type="factual", topic="t",
                    sources=[GoldSource("01-telescopes.md")])
    result = score_case(case, answer, "Telescopes", 5.0, embedder, (0.36, 0.1))
    assert [s["supported"] for s in result.sentences] == [True, False]
    assert result.sentences[0]["similarity"] > 0.6 and result.sentences[1]["overlap"] == 0.0


# --- dataset validation -------------------------------------------------------------------------

GOOD = {"id": "ok-1", "question": "What is a refractor?", "reference_answer": "A telescope with a lens.",
        "must_include": [["lens"]], "sources": [{"source": "01-telescopes.md"}], "type": "factual", "topic": "telescopes"}


def _line(**changes) -> str:
    record = {**GOOD, **changes}
    return json.dumps({k: v for k, v in record.items() if v is not ...})


BAD_LINES = [
    pytest.param('{"id": "broken", "question": ', "not valid JSON", None, id="invalid-json"),
    pytest.param(_line(id="no-topic", topic=...), "missing field(s) topic", "no-topic", id="missing-field"),
    pytest.param(_line(id="number-question", question=42), "'question' must be a string", "number-question", id="wrong-type"),
    pytest.param(_line(id="flat-facts", must_include=["lens"]), "'must_include' must be a list of key facts", "flat-facts", id="flat-must-include"),
    pytest.param(_line(id="riddle", type="riddle"), "it must be one of factual", "riddle", id="unknown-type"),
    pytest.param(_line(id="oos-with-source", type="out_of_scope"), "its 'sources' must be []", "oos-with-source", id="out-of-scope-with-sources"),
    pytest.param(_line(id="page-zero", sources=[{"source": "a.pdf", "page": 0}]), "'page' must be a page number", "page-zero", id="page-zero"),
    pytest.param(_line(id="typo", must_incude=[]), "unknown field(s) must_incude", "typo", id="misspelt-field"),
    pytest.param(_line(id="lonely-follow-up", type="follow-up"), "needs the conversation", "lonely-follow-up", id="follow-up-without-history"),
    pytest.param(_line(id="ok-1"), "duplicate id; line 1", "ok-1", id="duplicate-id"),
    pytest.param('["a", "list"]', "expected a JSON object", None, id="not-an-object"),
]


@pytest.mark.parametrize("bad_line, message, case_id", BAD_LINES)
def test_bad_dataset_line_is_reported_by_number_and_the_rest_kept(tmp_path: Path, bad_line: str, message: str, case_id):
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join([_line(), bad_line, "", _line(id="ok-2")]) + "\n", encoding="utf-8")
    dataset = load_dataset(path)
    assert [c.id for c in dataset.cases] == ["ok-1", "ok-2"]
    assert len(dataset.problems) == 1
    problem = dataset.problems[0]
    assert problem.line == 2 and problem.case_id == case_id
    assert message in problem.message, problem.message
    assert str(problem).startswith("line 2")


def test_dataset_without_a_usable_case_is_an_error(tmp_path: Path):
    path = tmp_path / "bad.jsonl"
    path.write_text("not json\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="No usable case.*line 1"):
        load_dataset(path)
    with pytest.raises(DatasetError, match="No dataset file"):
        load_dataset(tmp_path / "missing.jsonl")


@pytest.mark.parametrize("text, message", [
    pytest.param("hit_at_7: 0.9\n", "unknown metric(s) hit_at_7; known metrics: pass_rate", id="unknown-metric"),
    pytest.param("hit_at_5: high\n", "the bar of hit_at_5 must be a number", id="not-a-number"),
    pytest.param("- hit_at_5\n", "must be a YAML mapping", id="not-a-mapping"),
    pytest.param("hit_at_5: {least: 0.9}\n", "{min: N} / {max: N}", id="unknown-bar-key"),
    pytest.param("hit_at_5: [0.9\n", "Cannot read the thresholds file", id="invalid-yaml"),
])
def test_bad_thresholds_file_names_the_problem(tmp_path: Path, text: str, message: str):
    path = tmp_path / "bars.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ThresholdsError) as err:
        load_thresholds(path)
    assert message in str(err.value)


def test_thresholds_accept_minimums_and_latency_limits(tmp_path: Path):
    path = tmp_path / "bars.yaml"
    path.write_text("hit_at_5: 0.9\nlatency_p95_ms: {max: 500}\n", encoding="utf-8")
    hit, latency = load_thresholds(path)
    assert (hit.minimum, hit.check(0.95), latency.maximum) == (0.9, None, 500)
    assert hit.check(0.85) == "hit_at_5 = 0.85 is below its bar 0.9"
    assert latency.check(900.0) == "latency_p95_ms = 900 is above its limit 500"
    assert "no value" in hit.check(None)


def test_readme_dataset_example_is_a_valid_case():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Evaluating answers")[1].split("\n## ")[0]
    example = section.split("```json\n")[1].split("\n```")[0]
    from eval.dataset import parse_case

    case = parse_case(json.loads(example))
    assert case.type == "factual" and case.sources[0].section.startswith("Model Monitoring and Drift > ")
