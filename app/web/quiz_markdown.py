"""A quiz turn as Markdown, for the chat and for the API's `message` field (kept for clients that show it as is)."""
from __future__ import annotations

from app.quiz.session import AskedQuestion, Feedback, PassageLink, QuizSummary, QuizTurn
from core.quiz import CHOICE_LETTERS
from core.text import markdown_link_text

# Words, not emoji: a learner's machine may have no emoji font (the page would show empty boxes).
_VERDICT = {"correct": "**Right.**", "partly": "**Partly right.**", "wrong": "**Not right.**"}


def _link(link: PassageLink) -> str:
    label = markdown_link_text(link.label)
    return f"[{label}]({link.path})" if link.path else label


def question_markdown(asked: AskedQuestion) -> str:
    item = asked.item
    # The cloze blank is underscores, which Markdown would read as emphasis.
    lines = [f"**Question {asked.number} of {asked.total}** · {asked.lesson}", "", item.question.replace("_", "\\_")]
    if item.type == "multiple_choice":
        lines += [""] + [f"{CHOICE_LETTERS[i]}. {choice}" for i, choice in enumerate(item.choices)]
        hint = "Reply with a letter or the answer"
    elif item.type == "true_false":
        hint = "Reply true or false"
    else:
        hint = "Reply in a few words"
    return "\n".join(lines + ["", f"_{hint}, or say “stop” to end the quiz._"])


def feedback_markdown(feedback: Feedback, score: float, answered: int) -> str:
    return "\n".join([
        f"{_VERDICT[feedback.grade.verdict]} {feedback.grade.reason}", "", f"**Answer:** {feedback.answer_label}", "",
        feedback.item.explanation, "", f"Reread: {_link(feedback.reread)}", "", f"**Score: {score:g} / {answered}**",
    ])


def summary_markdown(summary: QuizSummary) -> str:
    if not summary.answered:
        return "**Quiz ended.** No questions were answered. Say “quiz me” to start again."
    percent = round(100 * summary.score / summary.answered)
    lines = [f"**Quiz finished.** You scored {summary.score:g} out of {summary.answered} ({percent}%)."]
    if summary.review:
        lines += ["", "**Lessons to review**", ""] + [f"- {_link(link)}" for link in summary.review]
    else:
        lines += ["", "Nothing to review: every answer was right."]
    return "\n".join(lines + ["", "Say “quiz me on TOPIC” for another quiz."])


def turn_markdown(turn: QuizTurn) -> str:
    """The whole turn as one chat message: the parts in order, feedback and what follows it set apart by a rule."""
    head: list[str] = []
    if turn.intro:
        head.append(turn.intro)
    if turn.feedback:
        head.append(feedback_markdown(turn.feedback, turn.session.score, len(turn.session.results)))
    if turn.notice:
        head.append(turn.notice + (" Say “quiz me” to start another." if turn.session.finished and not turn.summary else ""))
    tail = question_markdown(turn.question) if turn.question else summary_markdown(turn.summary) if turn.summary else ""
    if not head:
        return tail
    separator = "\n\n" if turn.intro and not turn.feedback else "\n\n---\n\n"
    return "\n\n".join(head) + (separator + tail if tail else "")
