"""Refusal calibration: picks the retrieval-score threshold that best separates in-scope from out-of-scope questions."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from app.answer import Guide, check_question


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
            questions.append(LabelledQuestion(str(record["question"]), bool(record["in_scope"]), record.get("source")))
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise CalibrationError(
                f"{path}:{number}: expected a JSON object with 'question' and 'in_scope' ({err}); fix or remove the line"
            ) from None
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
    """The cut with the best balanced accuracy; among equals, the middle of the widest gap between the two groups."""
    scores = sorted(set(in_scope) | set(out_of_scope))
    cuts = [(a + b) / 2 for a, b in zip(scores, scores[1:])] or scores

    def balanced(cut: float) -> float:
        answered = sum(s >= cut for s in in_scope) / len(in_scope)
        refused = sum(s < cut for s in out_of_scope) / len(out_of_scope)
        return (answered + refused) / 2

    best = max(balanced(c) for c in cuts)
    ties = [c for c in cuts if balanced(c) == best]
    # Equal-accuracy cuts form runs between neighbouring scores; centre of the tied range keeps the widest margin.
    return round((min(ties) + max(ties)) / 2, 3)


def best_scores(guide: Guide, questions: list[LabelledQuestion]) -> list[float]:
    """The best passage's similarity for each question: the signal refusal is decided on."""
    return [guide.retrieve(check_question(q.question, guide.settings), k=1)[0].score for q in questions]


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
