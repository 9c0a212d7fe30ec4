"""The one answer function behind the chat, the API, the CLI and the eval: check the question, make a follow-up stand
alone, retrieve, refuse what the course does not cover, else let the guide's answerer answer with citations."""
from __future__ import annotations

import time
from collections.abc import Iterator

from app.engine.conversation import Message, condense, current_topic, is_follow_up
from app.engine.guide import Guide
from app.engine.questions import PreparedQuestion, check_history, check_question
from app.engine.refusal import refusal
from app.engine.scope import covered_by_settings
from core.types import Answer

# Words per streamed piece of an offline answer: reads as typing without flooding the connection.
STREAM_WORDS = 6


def prepare_question(guide: Guide, question: str, history: list[Message] | None = None, lesson: str | None = None) -> PreparedQuestion:
    """Check the question, make it stand alone, retrieve its passages and decide whether the course covers it."""
    started = time.perf_counter()
    asked = check_question(question, guide.settings)
    history = check_history(history)
    lesson_source = guide.resolve_lesson(lesson)
    standalone = condense(asked, history)
    follow_up = is_follow_up(asked, history)
    if follow_up:
        standalone = guide.answerer.rewrite_follow_up(asked, history, guide.settings.max_question_chars) or standalone
    retrieved, evidence = guide.retrieve_and_scope(standalone, lesson_source, current_topic(history) if follow_up else None)
    in_scope = covered_by_settings(evidence, guide.settings)
    return PreparedQuestion(asked, standalone, history, retrieved, evidence, in_scope, started, time.perf_counter())


def word_pieces(text: str) -> Iterator[str]:
    """A ready answer as streamed pieces of a few words each; joined, they give the text back."""
    words = text.split(" ")
    for start in range(0, len(words), STREAM_WORDS):
        yield (" " if start else "") + " ".join(words[start : start + STREAM_WORDS])


def stream_answer(
    guide: Guide, question: str, history: list[Message] | None = None, lesson: str | None = None
) -> Iterator[str | Answer]:
    """The answer as it is produced: text pieces to show as they come, then the finished Answer.

    The finished Answer is authoritative: it may differ from the joined pieces when a generated answer's
    citations were checked afterwards, so a front end replaces what it streamed with it.
    Out-of-scope questions are refused before any LLM is called."""
    q = prepare_question(guide, question, history, lesson)
    if not q.in_scope:
        answer = refusal(q.asked, q.retrieved, overrides=q.evidence.overrides)
    else:
        answer = yield from guide.answerer.answer(guide, q)
    if answer.answerer == "extractive":
        yield from word_pieces(answer.answer)
    answer.question = q.asked
    answer.standalone_question = q.standalone
    answer.scope = q.evidence.to_dict()
    done = time.perf_counter()
    answer.timings_ms = {
        "retrieve": (q.retrieved_at - q.started) * 1000,
        "answer": (done - q.retrieved_at) * 1000,
        "total": (done - q.started) * 1000,
    }
    yield answer


def answer_question(
    guide: Guide, question: str, history: list[Message] | None = None, lesson: str | None = None
) -> Answer:
    """Answer one question from the course, citing every sentence, or say plainly that the course does not cover it.

    `history` is the conversation so far (for follow-ups); `lesson` names the lesson the learner is on."""
    *_, answer = stream_answer(guide, question, history, lesson)
    assert isinstance(answer, Answer)
    return answer
