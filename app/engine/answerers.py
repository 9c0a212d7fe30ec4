"""The answerers: the Answerer protocol, the offline extractive one, and the LLM one with its offline fallback.

A Guide holds one answerer, chosen once when it is opened (see app.engine.guide.open_guide)."""
from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Protocol

from app.engine.conversation import Message
from app.engine.extractive import extractive_answer
from app.engine.generative import check_citations, condense_with_llm, stream_generated
from app.engine.llm import LLMClient, LLMError
from app.engine.meaning import SentenceMeaning
from app.engine.questions import PreparedQuestion
from app.engine.refusal import REFUSAL_MESSAGE, refusal
from core.model import TextEmbedder
from core.settings import Settings
from core.types import Answer

log = logging.getLogger("course_guide")


class AnswerContext(Protocol):
    """What an answerer reads from the guide that holds it (app.engine.guide.Guide is one)."""

    settings: Settings
    embedder: TextEmbedder

    def idf(self) -> dict[str, float]: ...

    def sentence_meaning(self) -> SentenceMeaning | None:
        """Sentence-to-question similarity for the offline answerer, its vectors kept per index generation."""
        ...


class Answerer(Protocol):
    """Turns a prepared, in-scope question into an Answer.

    `answer` is a generator: it yields text pieces as they are produced (only an answerer that
    `streams_tokens` yields any), and returns the finished Answer, which a front end shows in place of them."""

    name: str
    streams_tokens: bool

    def rewrite_follow_up(self, question: str, history: list[Message], max_chars: int) -> str | None:
        """A standalone form of a follow-up question, or None to keep the offline rewrite."""
        ...

    def answer(self, guide: AnswerContext, question: PreparedQuestion) -> Generator[str, None, Answer]: ...


class ExtractiveAnswerer:
    """The default: quotes course sentences word for word, each cited. Needs no LLM."""

    name = "extractive"
    streams_tokens = False

    def rewrite_follow_up(self, question: str, history: list[Message], max_chars: int) -> str | None:
        return None

    def answer(self, guide: AnswerContext, question: PreparedQuestion) -> Generator[str, None, Answer]:
        return extractive_answer(question.standalone, question.retrieved, guide.idf(), guide.settings, guide.sentence_meaning())
        yield  # a generator that yields nothing: the extractive answer is ready at once


class LLMAnswerer:
    """Answers with an OpenAI-compatible LLM, then checks every citation; falls back to `fallback` when the
    endpoint fails or no sentence of the answer is supported by its passage."""

    name = "llm"
    streams_tokens = True

    def __init__(self, llm: LLMClient, fallback: Answerer | None = None):
        self.llm = llm
        self.fallback: Answerer = fallback or ExtractiveAnswerer()

    def rewrite_follow_up(self, question: str, history: list[Message], max_chars: int) -> str | None:
        try:
            return condense_with_llm(self.llm, question, history, max_chars)
        except (LLMError, ValueError) as err:
            log.warning("follow-up rewrite by the LLM failed, using the offline one: %s", err)
            return None

    def answer(self, guide: AnswerContext, question: PreparedQuestion) -> Generator[str, None, Answer]:
        passages = [hit for hit in question.retrieved if hit.neighbour_of is None]
        pieces: list[str] = []
        try:
            for piece in stream_generated(self.llm, question.standalone, question.history, passages):
                pieces.append(piece)
                yield piece
        except LLMError as err:
            log.warning("%s", err)
            return (yield from self._offline_instead(guide, question, "The AI answerer is unavailable right now, so this answer quotes the course directly."))
        checked = check_citations("".join(pieces), passages, guide.embedder, guide.settings.base_url())
        if checked.text.startswith(REFUSAL_MESSAGE.split(",")[0]) and not checked.citations:
            return refusal(question.asked, question.retrieved)
        if checked.supported_count == 0:
            return (yield from self._offline_instead(guide, question, "The AI answer could not be checked against the course, so this answer quotes the course directly."))
        return Answer(
            question=question.asked, answer=checked.text, refused=False, citations=checked.citations,
            retrieved=question.retrieved, answerer=self.name, unsupported_sentences=checked.unsupported,
        )

    def _offline_instead(self, guide: AnswerContext, question: PreparedQuestion, notice: str) -> Generator[str, None, Answer]:
        answer = yield from self.fallback.answer(guide, question)
        answer.notice = notice
        return answer


def choose_answerer(llm: LLMClient | None) -> Answerer:
    """The LLM answerer when an endpoint is configured, else the extractive one."""
    return LLMAnswerer(llm) if llm is not None else ExtractiveAnswerer()
