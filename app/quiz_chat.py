"""The quiz in the chat: "quiz me on TOPIC" starts one, and each later message is graded until the quiz ends.

The quiz state is carried by the chat itself: each turn replays the learner's replies since the quiz began
(start_quiz and answer_turn are deterministic), so no server keeps state and two sessions can never mix."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from app.answer import Guide
from app.quiz import DEFAULT_QUIZ_LENGTH, QuizError, QuizSession, answer_turn, start_quiz

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


def _text(content) -> str:
    """A chat message's text, whether Gradio gives it as a string or as a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or "")
    if isinstance(content, list):
        return " ".join(_text(part) for part in content)
    return ""


def _user_messages(history: list[dict] | None) -> list[str]:
    return [_text(m.get("content")) for m in history or [] if m.get("role") == "user"]


def session_from_history(guide: Guide, history: list[dict] | None) -> QuizSession | None:
    """The quiz in progress at the end of `history`, rebuilt by replaying it; None if no quiz is running."""
    messages = _user_messages(history)
    starts = [i for i, m in enumerate(messages) if quiz_request(m)[0]]
    if not starts:
        return None
    try:
        session, _ = start_quiz(guide, quiz_request(messages[starts[-1]])[1], DEFAULT_QUIZ_LENGTH)
    except QuizError:
        return None
    for reply in messages[starts[-1] + 1 :]:
        if session.finished:
            return None
        _, session = answer_turn(guide, session, reply)
    return None if session.finished else session


def quiz_turn(guide: Guide, message: str, history: list[dict] | None) -> str | None:
    """The chat's reply when `message` starts a quiz or answers one in progress; None when it is an ordinary question."""
    wanted, topic = quiz_request(message)
    if wanted:
        try:
            return start_quiz(guide, topic, DEFAULT_QUIZ_LENGTH)[1]
        except QuizError as err:
            return str(err)
    session = session_from_history(guide, history)
    if session is None:
        return None
    return answer_turn(guide, session, message)[0]


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
