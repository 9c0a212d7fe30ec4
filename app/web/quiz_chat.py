"""The quiz in the chat: "quiz me on TOPIC" starts one, and each later message is graded until the quiz ends.

The quiz state is carried by the chat itself: each quiz message holds its session (see with_session), so no server
keeps state, any replica can take the next reply, and two conversations can never mix."""
from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING

from app.engine.guide import Guide
from app.insights import progress
from app.insights.recording import Recorder, RecordingOff
from app.insights.store import StoreError
from app.quiz.bank import QuizError
from app.quiz.session import DEFAULT_QUIZ_LENGTH, QuizSession, answer_turn, quiz_of, start_quiz
from app.web.messages import message_text
from app.web.quiz_markdown import turn_markdown

if TYPE_CHECKING:
    import gradio as gr

QUIZ_EXAMPLE = "Quiz me on model monitoring"  # offered with the chat's example questions
QUIZ_BUTTON_MESSAGE = "Quiz me"
PROGRESS_BUTTON_MESSAGE = "Your progress"
_PROGRESS_REQUEST = re.compile(r"^\s*(?:show\s+)?(?:me\s+)?(?:my|your)\s+progress\s*[.!?]*\s*$", re.I)
_REVIEW_REQUEST = re.compile(r"^\s*(?:start\s+(?:a\s+)?)?review(?:\s+(?:my\s+)?(?:due\s+)?(?:questions|items))?\s*[.!?]*\s*$", re.I)
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


def due_line(count: int) -> str:
    """What the chat and the widget say when items are due."""
    if count == 0:
        return "No questions are due for review."
    return f"{count} question{' is' if count == 1 else 's are'} due for review. Say “review” to go over them."


def percent(share: float) -> int:
    """A share as a whole percent, halves rounded up the way the widget's Math.round does, so both show the same figure."""
    return int(100 * share + 0.5)


def progress_markdown(report: dict) -> str:
    """The chat's "Your progress" view: lessons with their mastery, items due, and the lessons to review next, linked."""
    if not report["lessons"]:
        return "**Your progress**\n\nNo quiz answers are stored for you yet. Say “quiz me” to start; your progress appears here."
    lines = ["**Your progress**", "", "| Lesson | Mastery | Answered | Due |", "|---|---|---|---|"]
    for row in report["lessons"]:
        lines.append(f"| [{row['title']}]({row['url']}) | {percent(row['mastery'])}% | {row['attempts']} | {row['due']} |")
    titles = {row["lesson"]: row for row in report["lessons"]}
    if report["review_next"]:
        lines += ["", "Review next: " + ", ".join(f"[{titles[lesson]['title']}]({titles[lesson]['url']})" for lesson in report["review_next"])]
    lines += ["", due_line(report["due"])]
    return "\n".join(lines)


def _store(recorder: Recorder | None):
    if recorder is None:
        return None
    try:
        return recorder.store()
    except (RecordingOff, StoreError):
        return None


def quiz_turn(guide: Guide, message: str, history: list[dict] | None, recorder: Recorder | None = None,
              learner: str | None = None) -> str | None:
    """The chat's reply when `message` starts a quiz or a review, answers one in progress, or asks for the learner's
    progress; None when it is an ordinary question. Graded replies are stored under `learner` (the chat's cookie)."""
    wanted, topic = quiz_request(message)
    reviewing = False
    store = _store(recorder) if learner else None
    if _PROGRESS_REQUEST.match(message or "") and session_from_history(history) is None:
        if store is None or learner is None:
            return "Your progress is not kept on this Course Guide (recording is off), so there is nothing to show."
        return progress_markdown(progress.progress(guide, store, learner))
    if _REVIEW_REQUEST.match(message or "") and store is not None and learner is not None:
        chosen = progress.review_items(guide, store, learner, DEFAULT_QUIZ_LENGTH)
        if not chosen:
            return "There is nothing to review yet. Say “quiz me” to start a quiz."
        turn = quiz_of(chosen, None, f"Here is a review: {len(chosen)} questions, due ones first.")
        wanted = reviewing = True
    elif wanted:
        try:
            turn = start_quiz(guide, topic, DEFAULT_QUIZ_LENGTH)
        except QuizError as err:
            return str(err)
    else:
        session = session_from_history(history)
        if session is None:
            return None
        turn = answer_turn(guide, session, message)
        if recorder is not None:
            progress.record_turn(recorder, session, turn, message, learner, "chat")
    if wanted and recorder is not None:
        progress.started(recorder, turn, learner)
    markdown = turn_markdown(turn)
    if store is not None and learner is not None:
        if turn.summary is not None:
            markdown += "\n\n" + due_line(progress.due_count(guide, store, learner))
        elif wanted and not reviewing:
            due = progress.due_count(guide, store, learner)
            if due:  # a plain quiz starts while reviews wait: say so first, the way the widget does
                markdown = due_line(due) + "\n\n" + markdown
    return with_session(markdown, turn.session)


def add_quiz_button(guide: Guide, chat: gr.ChatInterface, recorder: Recorder | None = None) -> gr.Button:
    """"Quiz me" and "Your progress" buttons under the chat: each acts in the same conversation, as if the learner typed it."""
    import gradio as gr

    from app.web.learner import LEARNER_COOKIE

    with gr.Row():
        button = gr.Button(QUIZ_BUTTON_MESSAGE, elem_id="quiz-button", size="sm", variant="secondary")
        progress_button = gr.Button(PROGRESS_BUTTON_MESSAGE, elem_id="progress-button", size="sm", variant="secondary",
                                    visible=recorder is not None and recorder.enabled)

    def acting(message: str):
        def act(history: list[dict] | None, request: gr.Request) -> tuple[list[dict], list[dict]]:
            history = list(history or [])
            learner = request.cookies.get(LEARNER_COOKIE) if request is not None else None
            reply = quiz_turn(guide, message, history if message != PROGRESS_BUTTON_MESSAGE else [], recorder, learner)
            history += [{"role": "user", "content": message}, {"role": "assistant", "content": reply}]
            return history, history
        act.__annotations__["request"] = gr.Request  # Gradio finds the request by this annotation, here a string otherwise
        return act

    # The chat reads its history from chatbot_state, so the buttons update both it and what is shown.
    button.click(acting(QUIZ_BUTTON_MESSAGE), [chat.chatbot_state], [chat.chatbot, chat.chatbot_state], api_visibility="undocumented")
    progress_button.click(acting(PROGRESS_BUTTON_MESSAGE), [chat.chatbot_state], [chat.chatbot, chat.chatbot_state],
                          api_visibility="undocumented")
    return button
