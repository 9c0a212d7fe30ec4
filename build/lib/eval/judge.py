"""The optional LLM judge: when an endpoint is configured, rate each answer's correctness and groundedness, three times, to show how much the judge itself varies."""
from __future__ import annotations

import json
import re
from typing import Any

from app.engine.llm import LLMClient, LLMError
from eval.dataset import EvalCase

JUDGE_RUNS = 3

SYSTEM_PROMPT = """You grade the answers of a course assistant that must answer only from its course's passages.
Give two scores from 0 to 1:
- correctness: does the answer say what the reference answer says? 1 = fully, 0.5 = partly, 0 = wrong or missing.
  When the question is not covered by the course, the correct answer is a refusal: score 1 for a refusal, 0 otherwise.
- groundedness: is every claim in the answer backed by the cited passages? 1 = all, 0 = none.
  A refusal that makes no claims is grounded (1).
Reply with only a JSON object, for example {"correctness": 0.5, "groundedness": 1}."""

_JSON_OBJECT = re.compile(r"\{.*?\}", re.S)


class JudgeReplyError(ValueError):
    """The judge replied with something that is not the two scores."""


def judge_messages(case: EvalCase, answer: dict[str, Any]) -> list[dict[str, str]]:
    """The grading request for one answer: question, reference, the answer and the passages it cites."""
    texts = {r["chunk_id"]: r["text"] for r in answer["retrieved"]}
    cited = "\n\n".join(f"[{c['n']}] {texts.get(c['chunk_id'], '(passage not retrieved)')}" for c in answer["citations"])
    reference = case.reference_answer if case.in_scope else "(The course does not cover this question; the assistant should refuse.)"
    user = (
        f"Question: {case.question}\n\nReference answer: {reference}\n\nAssistant's answer:\n{answer['answer']}\n\n"
        f"Cited passages:\n{cited or '(none)'}"
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def parse_scores(reply: str) -> tuple[float, float]:
    """(correctness, groundedness) from the judge's reply, or JudgeReplyError saying what was wrong with it."""
    match = _JSON_OBJECT.search(reply)
    if match is None:
        raise JudgeReplyError(f"the judge's reply has no JSON object: {reply[:80]!r}")
    try:
        data = json.loads(match.group(0))
    except json.JSONDecodeError:
        raise JudgeReplyError(f"the judge's reply is not valid JSON: {match.group(0)[:80]!r}") from None
    scores = []
    for name in ("correctness", "groundedness"):
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise JudgeReplyError(f"the judge's {name} is {value!r}, not a number from 0 to 1")
        scores.append(float(value))
    return scores[0], scores[1]


class LLMJudge:
    """Rates answers through the configured LLM endpoint; a failed rating is recorded with its reason, never raised."""

    def __init__(self, llm: LLMClient, runs: int = JUDGE_RUNS):
        self.llm = llm
        self.model = llm.settings.llm_model
        self.runs = runs

    def rate(self, case: EvalCase, answer: dict[str, Any]) -> dict[str, Any]:
        messages = judge_messages(case, answer)
        rating: dict[str, Any] = {"correctness": [], "groundedness": [], "errors": []}
        for _ in range(self.runs):
            try:
                correctness, groundedness = parse_scores(self.llm.complete(messages))
            except (LLMError, JudgeReplyError) as err:
                rating["errors"].append(str(err))
                continue
            rating["correctness"].append(correctness)
            rating["groundedness"].append(groundedness)
        for name in ("correctness", "groundedness"):
            values = rating[name]
            rating[f"{name}_text"] = (
                f"{sum(values) / len(values):.2f} (runs: {', '.join(f'{v:g}' for v in values)})" if values else "n/a"
            )
        return rating
