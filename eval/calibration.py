"""Refusal calibration: picks the retrieval-score threshold that best separates in-scope from out-of-scope questions."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from app.answer import Guide, QuestionError, check_question


class CalibrationError(ValueError):
    """A calibration file that cannot be used; the message names the line."""


@dataclass(frozen=True)
class LabelledQuestion:
    question: str
    in_scope: bool
    source: str | None = None


def read_labelled_questions(path: Path) -> list[LabelledQuestion]:
    questions: list[LabelledQuestion] = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            question, in_scope = record["question"], record["in_scope"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise CalibrationError(
                f"{path}:{number}: expected a JSON object with 'question' and 'in_scope' ({err}); fix or remove the line"
            ) from None
        # bool("false") is True: a quoted label would silently flip, so only JSON true/false are accepted.
        if not isinstance(question, str) or not isinstance(in_scope, bool):
            raise CalibrationError(f"{path}:{number}: 'question' must be a string and 'in_scope' true or false; fix the line")
        questions.append(LabelledQuestion(question, in_scope, record.get("source")))
    if not any(q.in_scope for q in questions) or all(q.in_scope for q in questions):
        raise CalibrationError(f"{path} needs both in-scope and out-of-scope questions to calibrate against.")
    return questions


@dataclass(frozen=True)
class Calibration:
    threshold: float
    in_scope_answered: float  # share of in-scope questions at or above the threshold
    out_of_scope_refused: float  # share of out-of-scope questions below it
    in_scope_scores: list[float]
    out_of_scope_scores: list[float]

    def to_dict(self) -> dict:
        return {
            "threshold": self.threshold,
            "in_scope_answered": round(self.in_scope_answered, 4),
            "out_of_scope_refused": round(self.out_of_scope_refused, 4),
            "in_scope": len(self.in_scope_scores),
            "out_of_scope": len(self.out_of_scope_scores),
        }

    def describe(self) -> str:
        lo_in, hi_out = min(self.in_scope_scores), max(self.out_of_scope_scores)
        return (
            f"Refusal threshold: {self.threshold}\n"
            f"  in-scope answered:     {self.in_scope_answered:.1%} of {len(self.in_scope_scores)} "
            f"(lowest best-passage score {lo_in:.3f})\n"
            f"  out-of-scope refused:  {self.out_of_scope_refused:.1%} of {len(self.out_of_scope_scores)} "
            f"(highest best-passage score {hi_out:.3f})"
        )


def choose_threshold(in_scope: list[float], out_of_scope: list[float]) -> float:
    """The cut with the best balanced accuracy; among equals, the middle of the widest score range that gives it.

    Any threshold between two neighbouring observed scores classifies alike, so the candidates are those
    ranges; tied neighbouring ranges merge, and the middle of the widest merged range keeps the largest margin."""
    scores = sorted(set(in_scope) | set(out_of_scope))
    if len(scores) < 2:
        return round(scores[0], 3)

    def balanced(cut: float) -> float:
        answered = sum(s >= cut for s in in_scope) / len(in_scope)
        refused = sum(s < cut for s in out_of_scope) / len(out_of_scope)
        return (answered + refused) / 2

    accuracy = [balanced((low + high) / 2) for low, high in zip(scores, scores[1:])]
    best = max(accuracy)
    runs: list[tuple[float, float]] = []  # (low, high) score range of each run of tied best ranges
    for i, value in enumerate(accuracy):
        if value != best:
            continue
        if runs and runs[-1][1] == scores[i]:
            runs[-1] = (runs[-1][0], scores[i + 1])
        else:
            runs.append((scores[i], scores[i + 1]))
    low, high = max(runs, key=lambda run: run[1] - run[0])
    return round((low + high) / 2, 3)


def best_scores(guide: Guide, questions: list[LabelledQuestion]) -> list[float]:
    """The best passage's similarity for each question: the signal refusal is decided on."""
    scores = []
    for number, q in enumerate(questions, start=1):
        try:
            scores.append(guide.retrieve(check_question(q.question, guide.settings), k=1)[0].score)
        except QuestionError as err:
            raise CalibrationError(f"question {number} ({q.question[:40]!r}): {err}") from None
    return scores


def calibrate_refusal(guide: Guide, questions: list[LabelledQuestion]) -> Calibration:
    scores = best_scores(guide, questions)
    inside = [s for s, q in zip(scores, questions) if q.in_scope]
    outside = [s for s, q in zip(scores, questions) if not q.in_scope]
    threshold = choose_threshold(inside, outside)
    return Calibration(
        threshold=threshold,
        in_scope_answered=sum(s >= threshold for s in inside) / len(inside),
        out_of_scope_refused=sum(s < threshold for s in outside) / len(outside),
        in_scope_scores=inside,
        out_of_scope_scores=outside,
    )
