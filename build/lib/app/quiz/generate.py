"""Quiz items generated offline from the indexed course, and the quality filters every generated item must pass."""
from __future__ import annotations

import hashlib
import logging
import re
from typing import Iterable

import numpy as np

from core.mining import BLANK, PRONOUN_START, Definition, definitions, heading_definitions, plain
from core.model import TextEmbedder
from core.quiz import TRUE_FALSE_CHOICES, QuizItem
from core.text import (
    STOPWORDS,
    content_words,
)
from core.types import Chunk

_PAREN = re.compile(r"\s*\([^)]*\)")
# Synonym test for distractors: choices closer than this in meaning would both be right answers.
_SYNONYM_SIMILARITY = 0.8
log = logging.getLogger("course_guide")


# ---------------------------------------------------------------- quality filters

def normalised(text: str) -> str:
    """Lower-case words and digits only, for comparing answers and questions."""
    return " ".join(re.findall(r"[a-z0-9]+", plain(text).lower()))


def head_word(term: str) -> str:
    """The last content word of a term, stemmed: 'Data drift' -> 'drift'."""
    words = content_words(_PAREN.sub("", term))
    return words[-1] if words else ""


def leaks_answer(question: str, answer: str) -> bool:
    """The stem gives the answer away: it contains the answer, all its content words, or a short answer's head word."""
    answer_words = set(content_words(answer))
    question_words = set(content_words(question))
    if not answer_words:
        return True
    if f" {normalised(answer)} " in f" {normalised(question)} " or answer_words <= question_words:
        return True
    return len(answer_words) <= 3 and head_word(answer) in question_words


def trivial_term(term: str) -> bool:
    """A blank on this would test nothing: a stop word, a pronoun, a number, too short, or too long to be a term."""
    bare = _PAREN.sub("", plain(term)).strip()
    words = bare.split()
    if len(bare) < 3 or not words or len(words) > 6:
        return True
    if bare.lower() in STOPWORDS or PRONOUN_START.match(bare) or bare.replace(".", "").isdigit():
        return True
    return not content_words(bare)


def term_vectors(terms: Iterable[str], embedder: TextEmbedder | None) -> dict[str, np.ndarray]:
    """Embeddings of terms, computed in one batch, for the synonym test."""
    unique = list(dict.fromkeys(terms))
    if embedder is None or not unique:
        return {}
    return dict(zip(unique, embedder.encode([plain(t) for t in unique])))


def synonyms(a: str, b: str, vectors: dict[str, np.ndarray] | None = None) -> bool:
    """Two choices that could both be right: same head word, one's words inside the other's, or close in meaning."""
    wa, wb = set(content_words(_PAREN.sub("", a))), set(content_words(_PAREN.sub("", b)))
    if normalised(a) == normalised(b) or not wa or not wb or head_word(a) == head_word(b) or wa <= wb or wb <= wa:
        return True
    if not vectors or a not in vectors or b not in vectors:
        return False
    return float(np.dot(vectors[a], vectors[b])) >= _SYNONYM_SIMILARITY


def coverage(words: Iterable[str], text: str) -> float:
    """Share of `words` found among the content words of `text` (a 5-letter prefix counts: 'versioned' ~ 'versions')."""
    wanted = list(dict.fromkeys(words))
    if not wanted:
        return 0.0
    have = set(content_words(text))
    prefixes = {w[:5] for w in have if len(w) >= 5}
    return sum(1 for w in wanted if w in have or (len(w) >= 5 and w[:5] in prefixes)) / len(wanted)


def supported_by_chunk(item: QuizItem, chunk: Chunk) -> bool:
    """The answer is found in the cited passage (for true/false, the statement's words are)."""
    evidence = re.sub(r"^true or false:\s*", "", item.question, flags=re.I) if item.type == "true_false" else item.answer
    if item.type != "true_false" and f" {normalised(evidence)} " in f" {normalised(chunk.text)} ":
        return True
    return coverage(content_words(evidence.replace(BLANK, " ")), chunk.text) >= 0.9


def dedupe(items: list[QuizItem]) -> list[QuizItem]:
    """Drop items asking the same question, or testing the same answer the same way, as an earlier one."""
    seen: set[tuple[str, str]] = set()
    long_answers: list[str] = []  # short-answer model answers so far, normalised
    kept = []
    for item in items:
        keys = {("q", normalised(item.question)), (item.type, normalised(item.answer) + "|" + normalised(item.question)[:40])}
        answer = f" {normalised(item.answer)} "
        # "A central system for ..." and "A feature store is a central system for ..." test the same thing.
        restated = item.type == "short_answer" and len(answer.split()) > 4 and any(answer in a or a in answer for a in long_answers)
        if keys & seen or restated:
            continue
        seen |= keys
        if item.type == "short_answer" and len(answer.split()) > 4:
            long_answers.append(answer)
        kept.append(item)
    return kept


# ---------------------------------------------------------------- generation

def _item_id(kind: str, source: str, term: str, taken: set[str]) -> str:
    """Readable and stable: the lesson's number (or name), the kind of item and the term, e.g. 'gen-09-mc-data-drift'."""
    lesson = source.rsplit("/", 1)[-1].split("-")[0].split(".")[0][:12]
    slug = "-".join(re.findall(r"[a-z0-9]+", term.lower()))[:40] or hashlib.sha1(term.encode()).hexdigest()[:8]
    base = f"gen-{lesson}-{kind}-{slug}"
    item_id, n = base, 2
    while item_id in taken:
        item_id, n = f"{base}-{n}", n + 1
    taken.add(item_id)
    return item_id


def _stable_order(values: list[str], seed: str) -> list[str]:
    return sorted(values, key=lambda v: hashlib.sha1(f"{seed}|{v}".encode()).hexdigest())


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _make(kind, item_id, question, answer, explanation, chunk: Chunk, choices=None) -> QuizItem:
    return QuizItem(
        id=item_id, type=kind, question=question, answer=answer, explanation=explanation, source=chunk.source,
        section=chunk.section, chunk_id=chunk.id, origin="generated", choices=list(choices or []), page=chunk.page,
    )


def _distractors(target: Definition, pool: list[Definition], vectors: dict[str, np.ndarray], want: int = 3) -> list[str]:
    """Sibling terms of the same list first, then of the same lesson; never a synonym of the answer or of each other."""
    same_list = [d for d in pool if d.group == target.group]
    same_lesson = [d for d in pool if d.chunk.source == target.chunk.source and d.group != target.group]
    picked: list[str] = []
    for candidate in same_list + same_lesson:
        term = candidate.term
        if len(picked) == want:
            break
        if trivial_term(term) or synonyms(term, target.term, vectors) or any(synonyms(term, p, vectors) for p in picked):
            continue
        picked.append(term)
    return picked


def generate_items(chunks: list[Chunk], embedder: TextEmbedder | None = None) -> list[QuizItem]:
    """Quiz items from the course text alone, each citing its chunk and passing every quality filter. Deterministic."""
    found = [d for chunk in chunks for d in definitions(chunk) if not trivial_term(d.term)]
    vectors = term_vectors((d.term for d in found), embedder)
    taken: set[str] = set()
    items: list[QuizItem] = []
    for question, answer, chunk in heading_definitions(chunks):
        term = re.sub(r"^what (?:is|are) |\?$", "", question, flags=re.I)
        items.append(_make("short_answer", _item_id("what", chunk.source, term, taken), question, answer,
                           f"The course says: “{answer}”", chunk))
    for d in found:
        location = d.chunk.title
        explanation = f"The course says: “{d.sentence}”"
        items.append(_make("short_answer", _item_id("def", d.chunk.source, d.term, taken),
                           f"In “{location}”, what is meant by “{d.term}”?", _capitalised(d.definition) + ".", explanation, d.chunk))
        is_sentence = not d.group.startswith(d.chunk.id)
        if is_sentence:
            verb = " are " if re.search(rf"\b{re.escape(d.term)}\s+are\b", d.sentence) else " is "
            items.append(_make("short_answer", _item_id("cloze", d.chunk.source, d.term, taken),
                               f"Fill in the blank: {BLANK}{verb}{d.definition}.", d.term, explanation, d.chunk))
        choices = _distractors(d, found, vectors)
        if len(choices) >= 2:  # at least three choices
            order = _stable_order([d.term, *choices], d.term)
            items.append(_make("multiple_choice", _item_id("mc", d.chunk.source, d.term, taken),
                               f"Which term matches this description: “{_capitalised(d.definition)}”?", d.term, explanation, d.chunk, order))
        siblings = [s for s in found if s.group == d.group and s.term != d.term]
        if siblings and not is_sentence:
            # True for every other item of a list, false (a sibling's definition) for the rest: deterministic, balanced.
            truthful = int(hashlib.sha1(d.term.encode()).hexdigest(), 16) % 2 == 0
            other = siblings[sum(1 for s in found if s.group == d.group and s.term < d.term) % len(siblings)]
            shown = d.definition if truthful else other.definition
            items.append(_make("true_false", _item_id("tf", d.chunk.source, d.term, taken),
                               f"True or false: “{d.term}” means {shown}.", TRUE_FALSE_CHOICES[0 if truthful else 1],
                               explanation if truthful else f"{explanation} The statement describes “{other.term}”.",
                               d.chunk, TRUE_FALSE_CHOICES))
    by_id = {c.id: c for c in chunks}
    kept = [
        item for item in items
        if not (item.type != "true_false" and leaks_answer(item.question, item.answer))
        and not (item.type == "short_answer" and "blank" in item.question and trivial_term(item.answer))
        and supported_by_chunk(item, by_id[item.chunk_id])
    ]
    return dedupe(kept)


