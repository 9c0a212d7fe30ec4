"""True/false grading refuses hedged replies, as multiple choice does; plain and negated replies still count."""
from __future__ import annotations

import pytest

from app.quiz.grading import grade_reply
from core.quiz import TRUE_FALSE_CHOICES, QuizItem

ITEM = QuizItem(
    id="psi", type="true_false", question="True or false: a PSI above 0.25 signals a significant shift.",
    answer="True", explanation="A PSI above 0.25 is read as a significant shift.", source="09-model-monitoring.md",
    section="Monitoring", chunk_id="c1", origin="instructor", choices=list(TRUE_FALSE_CHOICES),
)


@pytest.mark.parametrize("reply, verdict", [
    ("true or false", "wrong"),
    ("True or False", "wrong"),
    ("true, or maybe false", "wrong"),
    ("false or true", "wrong"),
    ("yes or no", "wrong"),
    ("true", "correct"),
    ("Yes, that's right", "correct"),
    ("not false", "correct"),
    ("It is not wrong, it's true", "correct"),
    ("not true", "wrong"),
    ("false", "wrong"),
])
def test_true_false_reply(reply, verdict):
    grade = grade_reply(ITEM, reply, None)
    assert grade.verdict == verdict, grade
    if reply.lower().count(" or ") and verdict == "wrong":
        assert grade.reason == "Your reply does not pick true or false.", "a hedge is not an answer, not a wrong pick"
