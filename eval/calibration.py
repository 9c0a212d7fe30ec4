"""Refusal calibration: picks the similarity threshold, lexical floor and meaning limit that best separate in-scope from out-of-scope questions."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, ValidationError, model_validator

from app.engine.answer import prepare_question
from app.engine.guide import Guide
from app.engine.questions import QuestionError
from app.engine.scope import CLEAR_MATCH, ScopeEvidence, is_covered
from core.files import explain, json_lines, located


class CalibrationError(ValueError):
    """A calibration file that cannot be used; the message names the line."""


@dataclass(frozen=True)
class LabelledQuestion:
    question: str
    in_scope: bool
    source: str | None = None
    history: list | None = None


class LabelledLine(BaseModel):
    """One line of a calibration file: a question labelled in or out of scope, or an eval dataset line (its 'type' says)."""

    model_config = ConfigDict(extra="ignore")
    question: StrictStr
    in_scope: StrictBool | None = None
    type: StrictStr | None = None
    source: StrictStr | None = None
    history: list[Any] | None = None

    @model_validator(mode="after")
    def _labelled(self) -> LabelledLine:
        if self.in_scope is None and self.type is None:
            raise ValueError("expected a JSON object with 'question' and 'in_scope' (or an eval dataset's 'type'); add the label")
        return self

    def labelled(self) -> LabelledQuestion:
        # bool("false") is True: a quoted label would silently flip, so in_scope is a strict JSON true/false.
        in_scope = self.in_scope if self.in_scope is not None else self.type != "out_of_scope"
        return LabelledQuestion(self.question, in_scope, self.source, self.history)


def read_labelled_questions(path: Path) -> list[LabelledQuestion]:
    """Questions labelled in or out of scope: {question, in_scope} lines, or an eval dataset (README, 'Evaluating')."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise CalibrationError(f"Cannot read {path}: {err}. Pass --questions with a UTF-8 JSONL file.") from None
    questions: list[LabelledQuestion] = []
    for line in json_lines(lines):
        if line.error is not None:
            raise CalibrationError(located(path, f"expected a JSON object with 'question' and 'in_scope' ({line.error}); fix or remove the line", line=line.number))
        try:
            questions.append(LabelledLine.model_validate(line.value).labelled())
        except ValidationError as err:
            raise CalibrationError(located(path, f"{explain(err)}; fix the line", line=line.number)) from None
    if not any(q.in_scope for q in questions) or all(q.in_scope for q in questions):
        raise CalibrationError(f"{path} needs both in-scope and out-of-scope questions to calibrate against.")
    return questions


@dataclass(frozen=True)
class Calibration:
    threshold: float
    lexical_floor: float
    meaning_limit: float
    in_scope_answered: float  # share of in-scope questions the rule answers
    out_of_scope_refused: float  # share of out-of-scope questions it refuses
    in_scope: int
    out_of_scope: int
    wrongly_refused: list[str]
    wrongly_answered: list[str]

    def to_dict(self) -> dict:
        return {
            "threshold": self.threshold,
            "lexical_floor": self.lexical_floor,
            "meaning_limit": self.meaning_limit,
            "in_scope_answered": round(self.in_scope_answered, 4),
            "out_of_scope_refused": round(self.out_of_scope_refused, 4),
            "in_scope": self.in_scope,
            "out_of_scope": self.out_of_scope,
            "wrongly_refused": self.wrongly_refused,
            "wrongly_answered": self.wrongly_answered,
        }

    def describe(self) -> str:
        lines = [
            f"Refusal threshold: {self.threshold}   lexical floor: {self.lexical_floor}   meaning limit: {self.meaning_limit}",
            f"  in-scope answered:     {self.in_scope_answered:.1%} of {self.in_scope}",
            f"  out-of-scope refused:  {self.out_of_scope_refused:.1%} of {self.out_of_scope}",
        ]
        lines += [f"  wrongly refused:  {q}" for q in self.wrongly_refused]
        lines += [f"  wrongly answered: {q}" for q in self.wrongly_answered]
        return "\n".join(lines)


def choose_threshold(in_scope: list[float], out_of_scope: list[float], in_scope_weight: float = 0.5) -> float:
    """The cut with the best weighted balanced accuracy (`in_scope_weight` on answering in-scope questions); among equals, the middle of the widest score range that gives it.

    Any threshold between two neighbouring observed scores classifies alike, so the candidates are those
    ranges; tied neighbouring ranges merge, and the middle of the widest merged range keeps the largest margin."""
    scores = sorted(set(in_scope) | set(out_of_scope))
    if len(scores) < 2:
        return round(scores[0], 3)

    def balanced(cut: float) -> float:
        answered = sum(s >= cut for s in in_scope) / len(in_scope) if in_scope else 1.0
        refused = sum(s < cut for s in out_of_scope) / len(out_of_scope) if out_of_scope else 1.0
        return in_scope_weight * answered + (1 - in_scope_weight) * refused

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


def scope_evidence_of(guide: Guide, questions: list[LabelledQuestion]) -> list[ScopeEvidence]:
    """What the answer path sees for each question (follow-ups made to stand alone first), before it decides."""
    evidence = []
    for number, q in enumerate(questions, start=1):
        try:
            evidence.append(prepare_question(guide, q.question, q.history).evidence)
        except QuestionError as err:
            raise CalibrationError(f"question {number} ({q.question[:40]!r}): {err}") from None
    return evidence


# Wrongly refusing a covered question costs more than answering an uncovered one (which still only quotes the
# course): the targets are at most 3% and 5%, so errors weigh 5:3, i.e. 0.625 on answering in-scope questions.
IN_SCOPE_WEIGHT = 0.625
# Floors tried for the word rule: from "any passage with the words" up to well into related-passage scores.
_FLOORS = [round(0.025 * i, 3) for i in range(0, 13)]
# Meaning limits tried for the unknown-words rule, in steps of 0.01: from "any unknown word that matters at all" to
# "only a question that is nearly all unknown words"; 2.0 (above any 1 - cosine) switches the rule off.
_MEANING_LIMITS = [round(0.01 * i, 2) for i in range(5, 61)] + [2.0]


def calibrate_refusal(guide: Guide, questions: list[LabelledQuestion]) -> Calibration:
    """The threshold, lexical floor and meaning limit with the best weighted balanced accuracy on the labelled questions.

    For each meaning limit and floor, the questions the word rule answers (or the name and meaning rules refuse) are
    settled; the threshold is then chosen on the rest. Among floors that do equally well, the highest (strictest)
    wins; among meaning limits that do equally well, the middle of the widest run of them, for the largest margin."""
    evidence = scope_evidence_of(guide, questions)
    best_of_limit: list[tuple[float, float, float, float]] = []  # (balanced accuracy, limit, floor, threshold)
    for limit in _MEANING_LIMITS:
        best: tuple[float, float, float] | None = None  # (balanced accuracy, floor, threshold)
        for floor in _FLOORS:
            open_in = [e.best_similarity for e, q in zip(evidence, questions) if q.in_scope and _undecided(e, floor, limit)]
            open_out = [e.best_similarity for e, q in zip(evidence, questions) if not q.in_scope and _undecided(e, floor, limit)]
            threshold = choose_threshold(open_in, open_out, IN_SCOPE_WEIGHT) if open_in or open_out else 1.0
            accuracy = _balanced(evidence, questions, threshold, floor, limit)
            if best is None or accuracy >= best[0]:
                best = (accuracy, floor, threshold)
        assert best is not None, "_FLOORS is never empty"
        best_of_limit.append((best[0], limit, best[1], best[2]))
    _, limit, floor, threshold = _middle_of_widest_best_run(best_of_limit)
    answered = [is_covered(e, threshold, floor, limit) for e in evidence]
    inside = [a for a, q in zip(answered, questions) if q.in_scope]
    outside = [a for a, q in zip(answered, questions) if not q.in_scope]
    return Calibration(
        threshold=threshold,
        lexical_floor=floor,
        meaning_limit=limit,
        in_scope_answered=sum(inside) / len(inside),
        out_of_scope_refused=1 - sum(outside) / len(outside),
        in_scope=len(inside),
        out_of_scope=len(outside),
        wrongly_refused=[q.question for a, q in zip(answered, questions) if q.in_scope and not a],
        wrongly_answered=[q.question for a, q in zip(answered, questions) if not q.in_scope and a],
    )


# A meaning limit is scored by the mean accuracy of the limits within this distance of it, so a limit that wins by
# one question on a knife edge loses to a wide plateau of limits that all do nearly as well.
_LIMIT_WINDOW = 0.02


def _middle_of_widest_best_run(rows: list[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    """Of (accuracy, limit, floor, threshold) rows in limit order, the middle row of the longest run of neighbouring
    rows with the best smoothed accuracy (see _LIMIT_WINDOW); the latest, more lenient, run among equally long ones."""
    smoothed = []
    for _, limit, _, _ in rows:
        near = [row[0] for row in rows if abs(row[1] - limit) <= _LIMIT_WINDOW + 1e-9]
        smoothed.append(round(sum(near) / len(near), 9))
    top = max(smoothed)
    runs: list[list[int]] = []
    for i, score in enumerate(smoothed):
        if score != top:
            continue
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    widest = max(len(run) for run in runs)
    longest = [run for run in runs if len(run) == widest][-1]
    return rows[longest[len(longest) // 2]]


def _undecided(evidence: ScopeEvidence, floor: float, limit: float) -> bool:
    """Left for the threshold to decide: neither refused for an unknown name or meaning nor answered by the word rule."""
    vetoed = (bool(evidence.unknown_names) or evidence.unknown_meaning >= limit) and evidence.best_similarity < CLEAR_MATCH
    return not vetoed and evidence.covered_similarity < floor


def _balanced(evidence: list[ScopeEvidence], questions: list[LabelledQuestion], threshold: float, floor: float, limit: float) -> float:
    answered = [is_covered(e, threshold, floor, limit) for e in evidence]
    inside = [a for a, q in zip(answered, questions) if q.in_scope]
    outside = [a for a, q in zip(answered, questions) if not q.in_scope]
    return IN_SCOPE_WEIGHT * sum(inside) / len(inside) + (1 - IN_SCOPE_WEIGHT) * (1 - sum(outside) / len(outside))
