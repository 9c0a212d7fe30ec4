"""What a question must be before it is answered: checked text, a well-formed history, and the errors a learner is shown."""
from __future__ import annotations

import re
from dataclasses import dataclass

from app.engine.conversation import Message
from app.engine.scope import ScopeEvidence
from core.settings import Settings
from core.types import RetrievedChunk

MAX_HISTORY_MESSAGES = 40


class QuestionError(ValueError):
    """A question we will not send to retrieval; the message is for the learner."""


class UnknownLessonError(QuestionError):
    """A lesson hint that names no lesson in the index."""



def check_question(question: str, settings: Settings) -> str:
    """The cleaned question, or QuestionError with a friendly message."""
    text = (question or "").strip()
    if not text:
        raise QuestionError("Please type a question about the course, for example: What is MLOps?")
    if len(text) > settings.max_question_chars:
        raise QuestionError(
            f"That question is {len(text)} characters long; please keep it under {settings.max_question_chars} "
            "characters and ask one thing at a time."
        )
    if not re.search(r"[^\W_]", text):
        raise QuestionError("Please ask your question in words, for example: How is data drift detected?")
    return text


def check_history(history: list[Message] | None) -> list[Message]:
    """The chat history as a list of {role, content} messages, or QuestionError saying what is wrong with it."""
    if history is None:
        return []
    if not isinstance(history, list):
        raise QuestionError("The history must be a list of messages like {\"role\": \"user\", \"content\": \"...\"}.")
    cleaned: list[Message] = []
    for number, message in enumerate(history, start=1):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant") or not isinstance(message.get("content"), str):
            raise QuestionError(
                f"History message {number} is not a {{\"role\": \"user\"|\"assistant\", \"content\": \"text\"}} object; fix or drop it."
            )
        cleaned.append({"role": message["role"], "content": message["content"]})
    # Only the recent turns can matter for resolving a follow-up; older ones would only slow answering down.
    return cleaned[-MAX_HISTORY_MESSAGES:]



@dataclass
class PreparedQuestion:
    """A question made ready to answer: checked, made to stand alone, and its passages retrieved."""

    asked: str
    standalone: str
    history: list[Message]
    retrieved: list[RetrievedChunk]
    evidence: ScopeEvidence
    in_scope: bool
    started: float
    retrieved_at: float
