"""Pure metric functions of the eval harness: retrieval ranks, key facts, overlap, support of answer sentences, refusals and bootstrap intervals."""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.citations import strip_markers
from core.text import content_words

# `[3]` citation markers, and a run of them such as `[1][2]` or `[1, 2]`.
# A bracketed number glued to a word (`x[0]` in quoted code) is not a marker.
_WORD = re.compile(r"\w+(?:[-'.]\w+)*")

BOOTSTRAP_SEED = 20251123
BOOTSTRAP_RESAMPLES = 1000


# --- retrieval ---------------------------------------------------------------------------------

def hit_at_k(gold_hits: Sequence[frozenset[int]], k: int) -> float:
    """1 if any of the top k passages is gold, else 0. `gold_hits[i]` holds the gold sources passage i matches."""
    return 1.0 if any(gold_hits[:k]) else 0.0


def recall_at_k(gold_hits: Sequence[frozenset[int]], n_gold: int, k: int) -> float:
    """Share of the gold sources that at least one of the top k passages comes from."""
    if n_gold == 0:
        raise ValueError("recall needs at least one gold source")
    found = set().union(*gold_hits[:k]) if gold_hits[:k] else set()
    return len(found) / n_gold


def reciprocal_rank(gold_hits: Sequence[frozenset[int]]) -> float:
    """1/rank of the first gold passage (1 for the top passage), 0 if none is gold."""
    for rank, hits in enumerate(gold_hits, start=1):
        if hits:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(gold_hits: Sequence[frozenset[int]], n_gold: int, k: int = 10) -> float:
    """nDCG@k where a passage gains 1 when it is the first to come from one of the gold sources.

    Counting each gold source once keeps a lesson-wide gold source (many chunks) from demanding ten
    gold passages; the ideal ranking puts one passage per gold source at the top."""
    if n_gold == 0:
        raise ValueError("nDCG needs at least one gold source")
    seen: set[int] = set()
    dcg = 0.0
    for rank, hits in enumerate(gold_hits[:k], start=1):
        new = hits - seen
        if new:
            dcg += 1.0 / math.log2(rank + 1)
            seen |= new
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(n_gold, k) + 1))
    return dcg / ideal


# --- answer text -------------------------------------------------------------------------------

def _tokens(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _contains_phrase(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return n > 0 and any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def fact_present(answer: str, alternatives: Sequence[str]) -> bool:
    """Whether the answer states one of the alternatives: as a phrase of content words (plurals folded), else verbatim."""
    answer_words = content_words(answer)
    answer_tokens = _tokens(answer)
    for alternative in alternatives:
        words = content_words(alternative)
        # An alternative made only of stop words ("no", "it") can only be matched word for word.
        if words and _contains_phrase(answer_words, words):
            return True
        if not words and _contains_phrase(answer_tokens, _tokens(alternative)):
            return True
    return False


def key_fact_recall(answer: str, must_include: Sequence[Sequence[str]]) -> float | None:
    """Share of key facts the answer states (any one alternative counts); None when the case lists none."""
    if not must_include:
        return None
    text = strip_markers(answer)
    return sum(fact_present(text, alternatives) for alternatives in must_include) / len(must_include)


def token_f1(answer: str, reference: str) -> float:
    """SQuAD-style F1 over content words (stop words out, plurals folded)."""
    predicted, gold = Counter(content_words(strip_markers(answer))), Counter(content_words(reference))
    common = sum((predicted & gold).values())
    if common == 0:
        return 0.0
    precision = common / sum(predicted.values())
    recall = common / sum(gold.values())
    return 2 * precision * recall / (precision + recall)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors (the embedder's vectors are unit length, but this does not assume it)."""
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / norm) if norm else 0.0


# --- support of answer sentences ---------------------------------------------------------------

def find_span(sentence: str, passage: str) -> tuple[int, int] | None:
    """Where the sentence occurs word for word in the passage (any whitespace between words), or None."""
    words = sentence.split()
    if not words:
        return None
    match = re.search(r"\s+".join(re.escape(w) for w in words), passage)
    return (match.start(), match.end()) if match else None


def share(flags: Sequence[bool]) -> float | None:
    """Share of true flags; None for an empty list (the metric does not apply)."""
    return sum(flags) / len(flags) if flags else None


# --- aggregates --------------------------------------------------------------------------------

def percentile(values: Sequence[float], pct: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), pct))


@dataclass(frozen=True)
class Estimate:
    """An aggregate over cases with its bootstrap 95% confidence interval and how many cases it covers."""

    value: float | None
    low: float | None
    high: float | None
    n: int

    def to_dict(self) -> dict:
        rounded = lambda v: None if v is None else round(v, 4)  # noqa: E731
        return {"value": rounded(self.value), "ci_low": rounded(self.low), "ci_high": rounded(self.high), "n": self.n}


def ratio_estimate(
    numerators: Sequence[float], denominators: Sequence[float], *, seed: int = BOOTSTRAP_SEED,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> Estimate:
    """sum(numerators)/sum(denominators) over cases, with a percentile bootstrap 95% CI from resampled cases.

    A mean over the cases a metric applies to is the ratio with denominator 1 for those cases and 0
    for the rest; refusal precision and recall are ratios of counts. One form serves them all, and a
    fixed seed makes the interval the same on every run."""
    num = np.asarray(numerators, dtype=float)
    den = np.asarray(denominators, dtype=float)
    n = int(np.count_nonzero(den))
    if den.sum() == 0:
        return Estimate(None, None, None, 0)
    value = float(num.sum() / den.sum())
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(num), size=(resamples, len(num)))
    sums_den = den[picks].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = num[picks].sum(axis=1) / sums_den
    ratios = ratios[sums_den > 0]
    low, high = np.percentile(ratios, [2.5, 97.5])
    return Estimate(value, float(low), float(high), n)


def mean_estimate(values: Sequence[float | None], **options) -> Estimate:
    """Mean of the values that are not None, with its bootstrap CI (None values are cases the metric does not apply to)."""
    num = [0.0 if v is None else float(v) for v in values]
    den = [0.0 if v is None else 1.0 for v in values]
    return ratio_estimate(num, den, **options)


def percentile_estimate(values: Sequence[float], pct: float, *, seed: int = BOOTSTRAP_SEED,
                        resamples: int = BOOTSTRAP_RESAMPLES) -> Estimate:
    """A percentile (latency p50/p95) with its bootstrap CI."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return Estimate(None, None, None, 0)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, data.size, size=(resamples, data.size))
    boot = np.percentile(data[picks], pct, axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    return Estimate(percentile(data.tolist(), pct), float(low), float(high), int(data.size))
