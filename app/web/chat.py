"""The Gradio chat: a thin front end over answer_question that streams the answer and links every citation."""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import gradio as gr
from sqlalchemy.exc import SQLAlchemyError

from app.engine.answer import STREAM_WORDS, stream_answer
from app.engine.guide import Guide
from app.engine.questions import QuestionError
from app.engine.refusal import REFUSAL_MESSAGE, closest_topics
from app.insights.recording import Recorder, RecordingOff
from app.insights.store import StoreError, UnknownAnswerError
from app.web.learner import LEARNER_COOKIE
from app.web.messages import message_text
from app.web.quiz_chat import QUIZ_EXAMPLE, add_quiz_button, quiz_turn, strip_session
from core.citations import link_markers
from core.store import IndexMissingError, IndexUnusableError
from core.text import heading_question as _heading_question
from core.text import markdown_link_text as link_text
from core.types import Answer

log = logging.getLogger("course_guide")
PRIVACY_LINE = "Questions are recorded anonymously to improve the course."
# Besides the thumbs, the chat's flag menu offers reasons; each is a "not helpful" vote with the reason as its comment.
FEEDBACK_REASONS = ("Not what I asked", "Wrong or incomplete", "Hard to follow")
# Each recorded answer carries its id as a Markdown comment (renders as nothing), so a vote on it can name it.
_ANSWER_MARK = re.compile(r"\[//\]: # \(answer:([0-9a-f-]{36})\)")


def with_answer_id(markdown: str, answer_id: str) -> str:
    return f"{markdown}\n\n[//]: # (answer:{answer_id})"


def answer_id_in(value: object) -> str | None:
    """The answer id hidden in a chat message, whatever shape Gradio hands the message back in."""
    match = _ANSWER_MARK.search(value if isinstance(value, str) else json.dumps(value, default=str))
    return match.group(1) if match else None


CHAT_CSS = """
.guide-header h1 { margin-bottom: 0; }
.guide-header p { margin-top: .2rem; opacity: .8; }
.guide-status { border-left: 4px solid #f59e0b; padding-left: .8rem; }
"""


def answer_markdown(answer: Answer, course_path: str = "") -> str:
    """The answer with each [n] linked to its passage, and the sources (or the nearest topics) listed below.

    Links are relative (under `course_path`, a registered course's /c/NAME), so they work whatever host name the
    learner reached the chat by."""
    chunks = {r.chunk.id: r.chunk for r in answer.retrieved}
    links = {c.n: chunks[c.chunk_id].link(course_path) for c in answer.citations}
    body = link_markers(answer.answer, links)
    if answer.refused:
        # An instruction refused as such (OVERRIDE_MESSAGE) lists no topics: the course not covering it is not why.
        topics = [] if (answer.scope or {}).get("overrides") else closest_topics(answer.retrieved)
        if not topics:
            return body
        body = REFUSAL_MESSAGE  # the topics are listed as links below instead of in the sentence
        listed = "\n".join(f"- [{link_text(hit.chunk.location())}]({hit.chunk.link(course_path)})" for hit in topics)
        return f"{body}\n\n**Closest topics in the course**\n\n{listed}"
    sources = "\n".join(f"{c.n}. [{link_text(chunks[c.chunk_id].location())}]({links[c.n]})" for c in answer.citations)
    return f"{body}\n\n**Sources**\n\n{sources}"


def answer_preamble(answer: Answer) -> str:
    """Lines shown above an answer: how a follow-up was understood, and any notice (e.g. the LLM was unavailable)."""
    lines = []
    if answer.standalone_question and answer.standalone_question != answer.question:
        lines.append(f"*Answering: {answer.standalone_question}*")
    if answer.notice:
        lines.append(f"*{answer.notice}*")
    return "".join(f"{line}\n\n" for line in lines)


def stream_words(text: str) -> Iterator[str]:
    """Growing prefixes of `text`, a few words at a time, cut at spaces (a link still streaming shows as text briefly)."""
    words = text.split(" ")
    for end in range(STREAM_WORDS, len(words), STREAM_WORDS):
        yield " ".join(words[:end])
    yield text


def plain_history(history: list[dict]) -> list[dict[str, str]]:
    """The chat so far as {role, content} text messages, each answer without its Sources list (links, not content)."""
    messages = []
    for message in history:
        text = _ANSWER_MARK.sub("", strip_session(message_text(message.get("content")))).split("\n\n**Sources**")[0].split("\n\n**Closest topics")[0].rstrip()
        if message.get("role") in ("user", "assistant") and text.strip():
            messages.append({"role": message["role"], "content": text})
    return messages


def example_questions(guide: Guide, limit: int = 4) -> list[str]:
    """Questions the course's own headings ask, one per lesson, to help a learner start."""
    try:
        chunks = guide.index.chunks()
    except IndexUnusableError:
        return []
    examples: dict[str, str] = {}  # lesson -> question
    for chunk in chunks:
        question = _heading_question(chunk.section.split(" > ")[-1])
        if question and chunk.source not in examples and question not in examples.values():
            examples[chunk.source] = question
    return list(examples.values())[:limit]


def index_status(guide: Guide) -> str:
    """A notice for the page when there is no usable index; empty when all is well."""
    try:
        guide.index.refresh()
    except IndexMissingError:
        return (
            f"**No course index yet.** Run `course-guide ingest --corpus YOUR_COURSE_FOLDER --db {guide.settings.db_dir}` "
            "and reload this page."
        )
    except IndexUnusableError as err:
        return f"**The course index cannot be read.** {err}"
    return ""


def build_chat(guide: Guide, recorder: Recorder | None = None) -> gr.Blocks:
    recorder = recorder or Recorder(guide.settings)

    def respond(message: str, history: list[dict], request: gr.Request) -> Iterator[str]:
        shown = ""
        learner = request.cookies.get(LEARNER_COOKIE) if request is not None else None
        try:
            quiz_reply = quiz_turn(guide, message, history, recorder, learner)  # "quiz me on ..." and replies during a quiz
            if quiz_reply is not None:
                yield quiz_reply
                return
            for event in stream_answer(guide, message, plain_history(history)):
                if isinstance(event, Answer):
                    final = answer_preamble(event) + answer_markdown(event, guide.settings.course_path())
                    # An offline answer is ready at once: stream it with its links, so the text never jumps.
                    if event.answerer == "extractive" and not shown:
                        yield from stream_words(final)
                    yield with_answer_id(final, recorder.record(event, channel="chat", learner=learner))
                elif guide.answerer.streams_tokens:
                    shown += event  # generated tokens, shown as they come; the checked answer replaces them
                    yield shown
        except QuestionError as err:
            yield str(err)
        except IndexUnusableError as err:
            yield f"**The course index is missing or damaged.** {err}"

    def vote(data: gr.LikeData) -> None:
        """Gradio's like event: a thumbs up or down on a recorded answer is its feedback (a second vote replaces the first)."""
        answer_id = answer_id_in(data.value)
        if data.liked in (True, False):
            helpful, comment = bool(data.liked), None
        elif data.liked in FEEDBACK_REASONS:
            helpful, comment = False, data.liked
        else:  # a vote taken back, or no id to name
            return
        if answer_id is None:
            return
        try:
            recorder.store().vote(answer_id, helpful, comment)
        except (RecordingOff, UnknownAnswerError):
            return
        except (StoreError, SQLAlchemyError) as err:
            log.error("could not store a vote from the chat: %s", err)
            gr.Warning("Your vote could not be stored right now; please try again later.")

    examples = example_questions(guide)
    privacy = f" *{PRIVACY_LINE}*" if recorder.enabled else ""
    root = guide.settings.course_path()
    heading = f"# Course Guide: {guide.settings.course_label()}" if guide.settings.course else "# Course Guide"
    with gr.Blocks(title=f"Course Guide: {guide.settings.course_label()}" if guide.settings.course else "Course Guide") as demo:
        gr.Markdown(
            f"{heading}\nAsk about the course. Every answer quotes the course and links to the passage it comes from. "
            f"[Browse the course contents]({root}/course/)" + privacy,
            elem_classes="guide-header",
        )
        status = gr.Markdown(index_status(guide), elem_classes="guide-status")
        chat = gr.ChatInterface(
            respond,
            chatbot=gr.Chatbot(
                height=520,
                show_label=False,
                placeholder="Ask a question about the course" + (", or pick an example below." if examples else "."),
                buttons=["copy"],
                elem_id="guide-chat",
                feedback_options=("Like", "Dislike", *FEEDBACK_REASONS) if recorder.enabled else None,
            ),
            textbox=gr.Textbox(
                placeholder="Ask about the course…", max_lines=6, elem_id="guide-question", submit_btn="Ask", show_label=False
            ),
            examples=(examples + [QUIZ_EXAMPLE]) if examples else None,
            api_name="ask",
        )
        add_quiz_button(guide, chat, recorder)
        if recorder.enabled:
            chat.chatbot.like(vote, None, None, api_visibility="undocumented")
        demo.load(lambda: index_status(guide), outputs=status, show_progress="hidden")
    return demo
