"""Synthetic eval questions from the indexed course, without an LLM: heading, definition and cloze questions to bootstrap a new course's dataset."""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from core.mining import BLANK, GENERIC_HEADINGS, PRONOUNS, definition_sentence, rarest_word
from core.text import Sentence, content_words, split_sentences
from core.types import SECTION_SEPARATOR, Chunk


def _leaf(section: str) -> str:
    return section.split(SECTION_SEPARATOR)[-1].strip()


def _spread(items: list[Any], limit: int) -> list[Any]:
    """Up to `limit` items taken evenly through the list, so a lesson's later sections get questions too."""
    if len(items) <= limit:
        return items
    return [items[round(i * (len(items) - 1) / (limit - 1))] for i in range(limit)] if limit > 1 else items[:1]


def _source_record(chunk: Chunk, with_section: bool = True) -> dict[str, Any]:
    record: dict[str, Any] = {"source": chunk.source}
    if with_section:
        record["section"] = chunk.section
    if chunk.page is not None:
        record["page"] = chunk.page
    return record


def _record(generator: str, question: str, reference: str, facts: list[list[str]], chunk: Chunk,
            case_type: str, topic: str) -> dict[str, Any]:
    """One generated case in the dataset format, before its id and synthetic label are added."""
    return {"question": question, "reference_answer": reference, "must_include": facts,
            "sources": [_source_record(chunk)], "type": case_type, "topic": topic, "generator": generator}


def _prose(sentence: Sentence) -> bool:
    text = sentence.text
    return not text.endswith(":") and "`" not in text and "](" not in text and len(content_words(text)) >= 5


def _lesson_topic(source: str) -> str:
    stem_name = re.sub(r"\.\w+$", "", source.rsplit("/", 1)[-1])
    return re.sub(r"^\d+[-_ ]*", "", stem_name).replace("-", " ").replace("_", " ") or stem_name


def _as_asked(term: str) -> str:
    """'Model management' reads 'model management' mid-question; 'Great Expectations' and 'DVC' keep their capitals."""
    if any(c.isupper() for c in term[1:]):
        return term
    return term[0].lower() + term[1:]


def heading_questions(chunks: Sequence[Chunk], limit: int) -> list[dict[str, Any]]:
    seen: set[str] = set()
    candidates = []
    for chunk in chunks:
        leaf = _leaf(chunk.section)
        if chunk.section in seen or leaf == chunk.title or leaf.lower() in GENERIC_HEADINGS or not content_words(leaf):
            continue
        seen.add(chunk.section)
        first = next((s for s in split_sentences(chunk.text) if _prose(s)), None)
        if first is None:
            continue
        question = leaf if leaf.endswith("?") else f"What does the course say about {_as_asked(leaf)}?"
        facts = [] if leaf.endswith("?") else [[leaf]]
        candidates.append(_record("heading", question, first.text, facts, chunk, "lookup", leaf.lower()))
    return _spread(candidates, limit)


def definition_questions(chunks: Sequence[Chunk], limit: int, document_frequency: Counter) -> list[dict[str, Any]]:
    candidates: list[dict[str, Any]] = []
    terms: set[tuple[str, ...]] = set()
    for chunk in chunks:
        for sentence in split_sentences(chunk.text):
            match = definition_sentence(sentence.text)
            if not match or sentence.text.endswith(":"):
                continue
            term = match.group("term").strip(" *")
            term_words = content_words(term)
            if not term_words or len(term_words) > 4 or tuple(term_words) in terms or term.split()[0].lower() in PRONOUNS \
                    or not content_words(term.split()[0]):
                continue
            fact = rarest_word(match.group("rest"), set(term_words), document_frequency)
            if fact is None:
                continue
            terms.add(tuple(term_words))
            verb = "are" if match.groupdict().get("verb") == "are" else "is"
            article = (match.groupdict().get("article") or "").lower()
            asked = f"{article} {_as_asked(term)}" if article else _as_asked(term)
            candidates.append(_record("definition", f"What {verb} {asked}?", sentence.text, [[fact]], chunk, "factual", term.lower()))
    return _spread(candidates, limit)


def cloze_questions(chunks: Sequence[Chunk], limit: int, document_frequency: Counter) -> list[dict[str, Any]]:
    candidates = []
    for chunk in chunks:
        heading_words = set(content_words(chunk.section))
        for sentence in split_sentences(chunk.text):
            if sentence.is_item or not _prose(sentence) or len(content_words(sentence.text)) < 8:
                continue
            word = rarest_word(sentence.text, heading_words, document_frequency)
            if word is None:
                continue
            blanked = re.sub(rf"\b{re.escape(word)}\b", BLANK, sentence.text, count=1)
            question = f"Fill in the blank, as the course puts it: {blanked}"
            candidates.append(_record("cloze", question, sentence.text, [[word]], chunk, "factual", _leaf(chunk.section).lower()))
            break  # one blank per passage keeps the questions spread over the lesson
    return _spread(candidates, limit)


def generate_cases(chunks: Sequence[Chunk], per_lesson: int = 6) -> list[dict[str, Any]]:
    """Dataset records (the eval format plus "synthetic": true and the generator's name), in course order."""
    document_frequency = Counter(word for chunk in chunks for word in set(content_words(chunk.text)))
    by_lesson: dict[str, list[Chunk]] = {}
    for chunk in sorted(chunks, key=lambda c: (c.source, c.ordinal)):
        by_lesson.setdefault(chunk.source, []).append(chunk)
    cases: list[dict[str, Any]] = []
    counters: Counter = Counter()
    for lesson_chunks in by_lesson.values():
        generated = (
            heading_questions(lesson_chunks, per_lesson)
            + definition_questions(lesson_chunks, per_lesson, document_frequency)
            + cloze_questions(lesson_chunks, per_lesson, document_frequency)
        )
        for record in generated:
            counters[record["generator"]] += 1
            record["topic"] = record["topic"] or _lesson_topic(lesson_chunks[0].source)
            cases.append({"id": f"syn-{record['generator']}-{counters[record['generator']]:03d}", **record, "synthetic": True})
    return cases

