"""The unknown-meaning refusal signal: a question whose meaning rests on words the course never uses is refused,
while a paraphrase whose unknown words are everyday filler is still answered (README, 'Refusal threshold')."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from app.cli.main import main
from app.engine.answer import answer_question, prepare_question
from app.engine.scope import CLEAR_MATCH, ScopeEvidence, explain, is_covered, unknown_meaning, unknown_word_spans
from core.settings import CALIBRATED_LEXICAL_FLOOR, CALIBRATED_REFUSAL_THRESHOLD, CALIBRATED_UNKNOWN_MEANING_LIMIT
from core.text import content_words
from eval.calibration import _middle_of_widest_best_run

# Off-course questions close enough in wording to pass the similarity threshold, whose topic the course never names.
# None is a dev-set question; the limit was calibrated without them.
OFF_COURSE_TOPICS = [
    "What is a service mesh and do I need one?",
    "What is a knowledge graph?",
]
# Course questions that use words the course never does ("boss", "incoming") for its own topics.
PARAPHRASED_COURSE_QUESTIONS = [
    "My boss keeps asking how we would notice if the model silently got worse. What should I tell her?",
    "How can I tell whether the incoming data looks different from what the model was trained on?",
]


def test_unknown_words_are_every_word_the_course_never_uses_not_only_names():
    vocabulary = dict.fromkeys(content_words("data store model"), 1.0)
    spans = unknown_word_spans("What is a data mesh, and does my model need one?", vocabulary)
    assert [span.group(0) for span in spans] == ["mesh", "need"]
    assert unknown_word_spans("What is a data store?", vocabulary) == []


def test_an_inflected_course_word_is_known_but_a_longer_unrelated_one_is_not():
    vocabulary = dict.fromkeys(["pinning", "artifact", "quick"], 1.0)
    assert [span.group(0) for span in unknown_word_spans("Why pin versions of art and quicksort?", vocabulary)] == ["versions", "art", "quicksort"]


def test_leaving_out_a_topic_word_moves_the_question_more_than_leaving_out_filler(embedder):
    vocabulary = set(content_words("learning rate whole slow data extraction rerun"))
    topic = "What is a data mesh?"
    filler = "I only tweaked the learning rate, so why should the whole slow data extraction rerun?"
    topic_shift = unknown_meaning(topic, unknown_word_spans(topic, vocabulary), embedder)
    filler_shift = unknown_meaning(filler, unknown_word_spans(filler, vocabulary), embedder)
    assert topic_shift >= CALIBRATED_UNKNOWN_MEANING_LIMIT > filler_shift
    assert unknown_meaning("What is data?", [], embedder) == 0.0
    # Nothing the course knows left once they are out: the whole question is about what it never mentions.
    assert unknown_meaning("Quicksort?", unknown_word_spans("Quicksort?", vocabulary), embedder) == 1.0


@pytest.mark.parametrize("question", OFF_COURSE_TOPICS)
def test_off_course_topic_is_refused_by_the_meaning_rule_alone(shipped_guide, question):
    evidence = prepare_question(shipped_guide, question).evidence
    settings = shipped_guide.settings
    # Without the meaning rule (a limit above any shift) the similarity threshold answers it: the new signal decides.
    assert is_covered(evidence, settings.refusal_threshold, settings.refusal_lexical_floor, 2.0)
    assert not evidence.unknown_names and evidence.best_similarity < CLEAR_MATCH
    assert evidence.unknown_meaning >= settings.refusal_meaning_limit
    answer = answer_question(shipped_guide, question)
    assert answer.refused and answer.citations == []
    why = explain(answer.scope, settings.refusal_threshold, settings.refusal_lexical_floor, settings.refusal_meaning_limit)
    assert "never uses" in why and evidence.unknown_words[0] in why


@pytest.mark.parametrize("question", PARAPHRASED_COURSE_QUESTIONS)
def test_paraphrase_with_everyday_unknown_words_is_still_answered(shipped_guide, question):
    evidence = prepare_question(shipped_guide, question).evidence
    assert evidence.unknown_words, "the question uses a word the course does not"
    assert 0 < evidence.unknown_meaning < shipped_guide.settings.refusal_meaning_limit
    answer = answer_question(shipped_guide, question)
    assert not answer.refused and answer.citations


def test_a_clear_match_overrules_the_meaning_rule():
    evidence = ScopeEvidence(best_similarity=0.55, covered_similarity=-1.0, unknown_names=(), unknown_words=("mesh",), unknown_meaning=0.4)
    assert is_covered(evidence, CALIBRATED_REFUSAL_THRESHOLD, CALIBRATED_LEXICAL_FLOOR, CALIBRATED_UNKNOWN_MEANING_LIMIT)
    weaker = ScopeEvidence(best_similarity=0.45, covered_similarity=-1.0, unknown_names=(), unknown_words=("mesh",), unknown_meaning=0.4)
    assert not is_covered(weaker, CALIBRATED_REFUSAL_THRESHOLD, CALIBRATED_LEXICAL_FLOOR, CALIBRATED_UNKNOWN_MEANING_LIMIT)


def test_explain_says_how_little_the_unknown_words_carried_when_it_answers():
    scope = {"best_similarity": 0.38, "covered_similarity": -1.0, "unknown_names": [], "unknown_words": ["carbon"], "unknown_meaning": 0.197}
    assert explain(scope, 0.326, 0.1, 0.25) == (
        "its closest passage scored 0.380, at or above the refusal threshold 0.326; "
        "the words the course never uses (carbon) move it only 0.197, under the limit 0.25")


def test_explain_reads_an_answer_stored_before_the_meaning_rule():
    old = {"best_similarity": 0.2, "covered_similarity": -1.0, "unknown_names": []}
    assert "below the refusal threshold" in explain(old, 0.3, 0.1)


def test_meaning_limit_is_the_middle_of_a_plateau_not_a_knife_edge():
    """Rows are (accuracy, limit, floor, threshold): one limit wins by a hair, a wide run of limits does nearly as well."""
    rows = [(0.90, 0.10, 0.1, 0.3), (0.96, 0.11, 0.1, 0.3), (0.90, 0.12, 0.1, 0.3)]
    rows += [(0.955, round(0.13 + 0.01 * i, 2), 0.1, 0.3) for i in range(9)] + [(0.90, 0.22, 0.1, 0.3)]
    assert _middle_of_widest_best_run(rows)[1] == 0.17


def test_calibrate_cli_reports_the_meaning_limit(shipped_settings, tmp_path):
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"question": "What is a model registry?", "in_scope": True},
        {"question": "How is data drift detected in production?", "in_scope": True},
        {"question": "What is a service mesh and do I need one?", "in_scope": False},
        {"question": "How do I make pancakes without eggs?", "in_scope": False},
    ]))
    result = CliRunner().invoke(main, ["calibrate", "--db", str(shipped_settings.db_dir), "--questions", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert 0 < data["meaning_limit"] <= 2.0 and data["out_of_scope_refused"] == 1.0 and data["in_scope_answered"] == 1.0
    text = CliRunner().invoke(main, ["calibrate", "--db", str(shipped_settings.db_dir), "--questions", str(path)])
    assert "COURSE_GUIDE_REFUSAL_MEANING_LIMIT=" in text.output
