"""The quiz in the chat: "quiz me on TOPIC" starts one, and each later message is graded until the quiz ends.

The quiz state is carried by the chat itself: each quiz message holds its session (see with_session), so no server
keeps state, any replica can take the next reply, and two conversations can never mix."""
from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING

from app.engine.guide import Guide
from app.quiz.bank import QuizError
from app.quiz.session import DEFAULT_QUIZ_LENGTH, QuizSession, answer_turn, start_quiz
from app.web.messages import message_text
from app.web.quiz_markdown import turn_markdown

if TYPE_CHECKING:
    import gradio as gr

QUIZ_EXAMPLE = "Quiz me on model monitoring"  # offered with the chat's example questions
QUIZ_BUTTON_MESSAGE = "Quiz me"
_QUIZ_REQUEST = re.compile(
    r"^\s*(?:please\s+|can you\s+|could you\s+)?(?:quiz|test)\s+me(?:\s+(?:on|about)\s+(?P<topic>.+?))?\s*[.!?]*\s*$"
    r"|^\s*(?:start|begin|give me|take)\s+(?:a\s+)?quiz(?:\s+(?:on|about)\s+(?P<topic2>.+?))?\s*[.!?]*\s*$"
    r"|^\s*quiz(?:\s+(?:on|about)\s+(?P<topic3>.+?))?\s*[.!?]*\s*$",
    re.I,
)


def quiz_request(message: str) -> tuple[bool, str | None]:
    """(True, topic or None) when the message asks for a quiz, else (False, None)."""
    match = _QUIZ_REQUEST.match(message or "")
    if not match:
        return False, None
    topic = match.group("topic") or match.group("topic2") or match.group("topic3")
    return True, (topic.strip() if topic else None)


# The session rides in the quiz message itself, as a Markdown comment (a link reference definition renders as nothing).
# Gradio sends the whole history back with every message, so whichever replica gets the next reply has the session.
_SESSION_MARK = re.compile(r"^\[//\]: # \(quiz-session:([A-Za-z0-9_=-]+)\)$", re.M)


def with_session(markdown: str, session: QuizSession) -> str:
    """The quiz message with its session attached, unless the quiz is over."""
    if session.finished:
        return markdown
    token = base64.urlsafe_b64encode(json.dumps(session.to_dict(), separators=(",", ":")).encode()).decode()
    return f"{markdown}\n\n[//]: # (quiz-session:{token})"


def strip_session(text: str) -> str:
    """A chat message without its hidden quiz session, for anything that reads the conversation as text."""
    return _SESSION_MARK.sub("", text).rstrip()


def session_from_history(history: list[dict] | None) -> QuizSession | None:
    """The quiz in progress: the session attached to the last assistant message, if any."""
    replies = [m for m in history or [] if m.get("role") == "assistant"]
    if not replies:
        return None
    match = _SESSION_MARK.search(message_text(replies[-1].get("content")))
    if match is None:
        return None
    try:
        session = QuizSession.from_dict(json.loads(base64.urlsafe_b64decode(match.group(1))))
    except (ValueError, TypeError):
        return None  # a mangled message: treat the next message as a question, not a reply
    return None if session.finished else session


def quiz_turn(guide: Guide, message: str, history: list[dict] | None) -> str | None:
    """The chat's reply when `message` starts a quiz or answers one in progress; None when it is an ordinary question."""
    wanted, topic = quiz_request(message)
    if wanted:
        try:
            turn = start_quiz(guide, topic, DEFAULT_QUIZ_LENGTH)
        except QuizError as err:
            return str(err)
    else:
        session = session_from_history(history)
        if session is None:
            return None
        turn = answer_turn(guide, session, message)
    return with_session(turn_markdown(turn), turn.session)


def add_quiz_button(guide: Guide, chat: gr.ChatInterface) -> gr.Button:
    """A "Quiz me" button under the chat: it starts a mixed quiz in the same conversation, as if the learner typed it."""
    import gradio as gr

    button = gr.Button(QUIZ_BUTTON_MESSAGE, elem_id="quiz-button", size="sm", variant="secondary")

    def start(history: list[dict] | None) -> tuple[list[dict], list[dict]]:
        history = list(history or [])
        reply = quiz_turn(guide, QUIZ_BUTTON_MESSAGE, history)
        history += [{"role": "user", "content": QUIZ_BUTTON_MESSAGE}, {"role": "assistant", "content": reply}]
        return history, history

    # The chat reads its history from chatbot_state, so the button updates both it and what is shown.
    button.click(start, [chat.chatbot_state], [chat.chatbot, chat.chatbot_state], api_visibility="undocumented")
    return button
