"""The fast tier: ingest, answering, refusal, quiz and the CLI's plumbing driven with a hashing fake embedder (no model load).

These check logic, not quality; the same paths run with the real model in the other test files."""
from __future__ import annotations

import json

import pytest

from app.engine.answer import answer_question
from app.engine.answerers import ExtractiveAnswerer, LLMAnswerer
from app.engine.guide import open_guide
from app.engine.llm import LLMClient, LLMError
from app.quiz.session import answer_turn, start_quiz
from core.citations import marker_numbers, sentence_claims, support
from core.settings import Settings
from ingest.pipeline import ingest_corpus


@pytest.fixture
def fake_guide(settings: Settings, fake_embedder):
    report = ingest_corpus(settings, lambda: fake_embedder)
    assert report.published and report.chunks > 5
    return open_guide(settings, fake_embedder)


def test_the_guide_is_opened_once_with_the_offline_answerer(fake_guide):
    assert isinstance(fake_guide.answerer, ExtractiveAnswerer) and fake_guide.llm is None


def test_an_llm_endpoint_picks_the_llm_answerer_once(settings, fake_embedder, fake_guide):
    guide = open_guide(settings.model_copy(update={"llm_base_url": "http://127.0.0.1:9/v1"}), fake_embedder)
    assert isinstance(guide.answerer, LLMAnswerer) and isinstance(guide.llm, LLMClient)


def test_answer_quotes_and_cites_the_course(fake_guide):
    answer = answer_question(fake_guide, "What is a refractor?")
    assert not answer.refused and answer.citations
    assert set(marker_numbers(answer.answer)) == {c.n for c in answer.citations}
    assert any("lens" in r.chunk.text for r in answer.retrieved[:3])


def test_an_empty_question_is_a_clear_error(fake_guide):
    from app.engine.questions import QuestionError

    with pytest.raises(QuestionError, match="Please type a question"):
        answer_question(fake_guide, "   ")


def test_quiz_turns_are_typed_and_the_session_round_trips_as_json(fake_guide):
    turn = start_quiz(fake_guide, None, 2)
    assert turn.question is not None and turn.question.number == 1 and turn.feedback is None
    session = json.loads(json.dumps(turn.session.to_dict()))
    from app.quiz.session import QuizSession

    following = answer_turn(fake_guide, QuizSession.from_dict(session), "I don't know")
    assert following.feedback is not None and following.feedback.grade.verdict == "wrong"
    assert following.feedback.reread.path and following.feedback.reread.path.startswith("/course/")
    assert following.to_dict()["feedback"]["verdict"] == "wrong"


def test_one_support_rule_for_generated_claims(fake_embedder):
    passage = "A refractor is a telescope that uses a lens as its objective."
    assert support("A refractor is a telescope that uses a lens.", passage, fake_embedder).supported
    assert not support("Bananas are rich in potassium.", passage, fake_embedder).supported
    claims = sentence_claims("It uses a lens. [1] Bananas are berries.")
    assert [(c.text, c.markers) for c in claims] == [("It uses a lens.", (1,)), ("Bananas are berries.", ())]


def test_a_bug_in_our_code_is_not_reported_as_the_llm_being_down(monkeypatch):
    """An AttributeError raised inside our own code during the LLM call surfaces; only the client library's count as the endpoint's."""
    from langchain_openai import ChatOpenAI

    from core.text import stem

    client = LLMClient(Settings(llm_base_url="http://127.0.0.1:9/v1"))
    monkeypatch.setattr(ChatOpenAI, "invoke", lambda self, messages: stem(None))  # our code, called wrongly
    with pytest.raises(AttributeError):
        client.complete([{"role": "user", "content": "hi"}])


def test_an_endpoint_that_cannot_be_reached_is_one_llm_error():
    client = LLMClient(Settings(llm_base_url="http://127.0.0.1:9/v1", llm_timeout_s=2))
    with pytest.raises(LLMError, match="cannot connect"):
        client.complete([{"role": "user", "content": "hi"}])
