"""Is a question covered by the course? The evidence retrieval gives, and the calibrated rule that decides it without any LLM."""
from __future__ import annotations

import re
from dataclasses import dataclass

from app.engine.retrieval import LexicalIndex
from core.settings import Settings
from core.text import content_words
from core.types import RetrievedChunk

_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9+&.-]*[A-Za-z0-9]|[A-Z]")
# A passage this close in meaning answers the question even if it names something the course does not.
CLEAR_MATCH = 0.5


@dataclass(frozen=True)
class ScopeEvidence:
    best_similarity: float  # cosine similarity of the closest ranked passage
    covered_similarity: float  # that of the closest passage holding every key word of the question (-1: none does)
    unknown_names: tuple[str, ...]  # names and acronyms in the question that the course never uses

    def to_dict(self) -> dict:
        return {
            "best_similarity": round(self.best_similarity, 4),
            "covered_similarity": round(self.covered_similarity, 4),
            "unknown_names": list(self.unknown_names),
        }


def unknown_names(question: str, vocabulary: set[str] | dict[str, float]) -> tuple[str, ...]:
    """Capitalised words (not opening a sentence), acronyms and words with digits that the course never uses.

    A question about "Terraform" or "HIPAA" in a course that never names them is not covered, however
    close its other words come; everyday words a learner paraphrases with are not names, so they don't count."""
    names = []
    for match in _TOKEN.finditer(question):
        word = match.group(0)
        opens_sentence = not question[: match.start()].strip() or question[: match.start()].rstrip().endswith((".", "?", "!", ":"))
        is_name = (word[0].isupper() and not opens_sentence) or sum(c.isupper() for c in word) >= 2 or any(c.isdigit() for c in word)
        words = content_words(word)
        if is_name and words and not all(w in vocabulary for w in words):
            names.append(word)
    return tuple(names)


def scope_evidence(question: str, key_words_of: str, retrieved: list[RetrievedChunk], lexical: LexicalIndex) -> ScopeEvidence:
    """The evidence for `question`; `key_words_of` is the text whose words must all be in a passage
    (the question itself, or for a follow-up the conversation's topic, so "what's the catch?" counts as its topic)."""
    ranked = [hit for hit in retrieved if hit.neighbour_of is None]
    covered = [hit.score for hit in ranked if lexical.coverage(key_words_of, hit.chunk) >= 0.999]
    return ScopeEvidence(
        best_similarity=max((hit.score for hit in ranked), default=-1.0),
        covered_similarity=max(covered, default=-1.0),
        unknown_names=unknown_names(question, lexical.idf),
    )


def is_covered(evidence: ScopeEvidence, threshold: float, lexical_floor: float) -> bool:
    """The refusal rule (README, 'Refusal'): refuse a question naming what the course never mentions unless a
    passage clearly matches; otherwise answer when a passage is close in meaning (threshold), or holds all the
    key words and is not unrelated (floor). The word rule catches short look-ups like "What is LIME?"."""
    if evidence.unknown_names and evidence.best_similarity < CLEAR_MATCH:
        return False
    return evidence.best_similarity >= threshold or evidence.covered_similarity >= lexical_floor


def explain(evidence: dict, threshold: float, lexical_floor: float) -> str:
    """Why the rule answered or refused, in words, from an answer's `scope` (ScopeEvidence.to_dict())."""
    best, covered, names = evidence["best_similarity"], evidence["covered_similarity"], evidence["unknown_names"]
    if names and best < CLEAR_MATCH:
        return f"it names {', '.join(names)}, which the course never mentions (closest passage {best:.3f}, below a clear match {CLEAR_MATCH})"
    if best >= threshold:
        return f"its closest passage scored {best:.3f}, at or above the refusal threshold {threshold}"
    if covered >= lexical_floor:
        return f"a passage holding all its key words scored {covered:.3f}, at or above the lexical floor {lexical_floor}"
    words = f"the best passage holding all its key words scored {covered:.3f}" if covered >= 0 else "no passage holds all its key words"
    return f"its closest passage scored {best:.3f}, below the refusal threshold {threshold}, and {words} (floor {lexical_floor})"


def covered_by_settings(evidence: ScopeEvidence, settings: Settings) -> bool:
    return is_covered(evidence, settings.refusal_threshold, settings.refusal_lexical_floor)
