"""Citation markers: the one format ("sentence [n]"), how answers are parsed into cited claims, and the one rule
for whether a cited passage supports a claim, shared by the LLM answer check and the eval metrics."""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from core.model import TextEmbedder
from core.text import content_words, normalise_space, split_sentences

# "[3]" or "[1, 2]", not inside a word or an index expression such as "x[0]".
MARKER = re.compile(r"(?<!\w)\[(\d+(?:\s*,\s*\d+)*)\]")
# A marker with the space before it, as answers write it: "the sentence [1]".
SPACED_MARKER = re.compile(r"\s*(?<!\w)\[(\d+(?:\s*,\s*\d+)*)\]")
_LEADING_MARKERS = re.compile(r"^(?:\s*\[\d+(?:\s*,\s*\d+)*\])+")
_MARKED_SEGMENT = re.compile(r"(.*?)((?:\s*(?<!\w)\[\d+(?:\s*,\s*\d+)*\])+)", re.S)
_BULLET = re.compile(r"^\s*(?:[-*+\u2022]|\d{1,3}[.)])\s+", re.M)


def marker(n: int) -> str:
    """How an answer cites passage n."""
    return f"[{n}]"


def marker_numbers(text: str) -> list[int]:
    """Every passage number the text cites, in order, repeats kept."""
    return [int(n) for group in MARKER.findall(text) for n in group.split(",")]


def strip_markers(text: str) -> str:
    """Answer text without citation markers and list bullets, whitespace normalised."""
    return normalise_space(_BULLET.sub("", MARKER.sub(" ", text)))


def link_markers(text: str, links: Mapping[int, str]) -> str:
    """Markdown with each [n] made a link to its passage; markers with no link are left as they are."""
    def link(match: re.Match) -> str:
        numbers = [int(n) for n in match.group(1).split(",")]
        if not all(n in links for n in numbers):
            return match.group(0)
        return "".join(f"[[{n}]]({links[n]})" for n in numbers)

    return MARKER.sub(link, text)


def renumber_markers(text: str, renumber: Callable[[int], int | None]) -> str:
    """The text with each marker's numbers mapped by `renumber`; numbers it maps to None are dropped."""
    def replace(match: re.Match) -> str:
        kept = [new for raw in match.group(1).split(",") if (new := renumber(int(raw))) is not None]
        return " " + "".join(marker(n) for n in kept) if kept else ""

    return SPACED_MARKER.sub(replace, text).strip()


@dataclass(frozen=True)
class CitedClaim:
    """A claim of an answer with the citation numbers that back it."""

    text: str  # without markers and bullets
    markers: tuple[int, ...]


def sentence_claims(text: str) -> list[CitedClaim]:
    """Each sentence of a generated answer with its markers: the unit the LLM answer check judges.

    A marker after the full stop ("... safe. [1]") belongs to the sentence before it, which is how
    models and our own extractive answers both write it; a sentence with no marker cites nothing."""
    claims: list[CitedClaim] = []
    for sentence in split_sentences(text, keep_furniture=True):
        leading = _LEADING_MARKERS.match(sentence.text)
        rest = sentence.text
        if leading and claims:
            claims[-1] = CitedClaim(claims[-1].text, claims[-1].markers + tuple(marker_numbers(leading.group(0))))
            rest = sentence.text[leading.end() :]
        bare = MARKER.sub("", rest).strip()
        bare = re.sub(r"\s+([.,;:!?])", r"\1", bare)
        if bare:
            claims.append(CitedClaim(bare, tuple(marker_numbers(rest))))
    return claims


def marked_stretches(answer: str) -> list[CitedClaim]:
    """The stretches of text that each run of markers closes; text after the last marker is uncited: the unit the eval scores.

    The extractive answerer writes `sentence [n]` per sentence; a generated answer may cite several
    sentences with one marker, which then count as one claim citing that passage."""
    claims: list[CitedClaim] = []
    end = 0
    for match in _MARKED_SEGMENT.finditer(answer):
        # Only the bullet that opens the stretch is the answer's own; bullets inside a quoted passage are the passage's.
        text = normalise_space(_BULLET.sub("", match.group(1).strip(), count=1))
        numbers = tuple(marker_numbers(match.group(2)))
        if text:
            claims.append(CitedClaim(text, numbers))
        elif claims:
            # A marker run on its own line (a quoted passage ending "\n\n[1]") belongs to the text before it.
            claims[-1] = CitedClaim(claims[-1].text, claims[-1].markers + numbers)
        end = match.end()
    tail = normalise_space(_BULLET.sub("", answer[end:].strip(), count=1))
    if tail:
        claims.append(CitedClaim(tail, ()))
    return claims


# ---------------------------------------------------------------- the support rule

# A claim is supported by its passage when the passage holds most of its words, or means the same and holds a
# fair share of them. Meaning alone is not enough: a fluent sentence on the passage's topic can say the opposite.
SUPPORT_OVERLAP = 0.7
SUPPORT_SIMILARITY = 0.6
SUPPORT_MIN_OVERLAP = 0.4


def token_overlap(claim: str, passage: str) -> float:
    """Share of the claim's content words that the passage contains."""
    words = content_words(claim)
    if not words:
        return 0.0
    passage_words = set(content_words(passage))
    return sum(w in passage_words for w in words) / len(words)


def is_supported(overlap: float, similarity: float) -> bool:
    """The support rule (README, 'Evaluating answers'), from a claim's word overlap with its passage and their cosine similarity."""
    return overlap >= SUPPORT_OVERLAP or (similarity >= SUPPORT_SIMILARITY and overlap >= SUPPORT_MIN_OVERLAP)


@dataclass(frozen=True)
class Support:
    overlap: float
    similarity: float  # cosine similarity to the passage's closest sentence; 0.0 when not measured
    span: tuple[int, int] | None  # that sentence's place in the passage

    @property
    def supported(self) -> bool:
        return is_supported(self.overlap, self.similarity)


def closest_sentence(claim: str, passage: str, embedder: TextEmbedder) -> tuple[float, tuple[int, int] | None]:
    """Cosine similarity of the claim to the passage's closest sentence, and where that sentence is."""
    candidates = split_sentences(passage)
    if not candidates:
        return 0.0, None
    vectors = embedder.encode([claim] + [c.text for c in candidates])
    scores = [float(np.dot(vectors[0], v) / ((np.linalg.norm(vectors[0]) * np.linalg.norm(v)) or 1.0)) for v in vectors[1:]]
    best = int(np.argmax(scores))
    return scores[best], (candidates[best].start, candidates[best].end)


def support(claim: str, passage: str, embedder: TextEmbedder | None = None, *, always_measure: bool = False) -> Support:
    """How well `passage` backs `claim` under the support rule. The embedder is called only where meaning can
    decide (unless `always_measure`, for reports that show the similarity of every claim)."""
    overlap = token_overlap(claim, passage)
    decided = overlap >= SUPPORT_OVERLAP or overlap < SUPPORT_MIN_OVERLAP
    if embedder is None or (decided and not always_measure):
        return Support(overlap, 0.0, None)
    similarity, span = closest_sentence(claim, passage, embedder)
    return Support(overlap, similarity, span)
