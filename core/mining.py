"""Mining course text for what questions can be asked about: defined terms, 'What is X?' sections, and rare
course words to blank out. Quiz generation (app.quiz.generate) and the synthetic eval set (eval.synthetic) both use it."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from core.text import STOPWORDS, content_words, heading_question, normalise_space, split_sentences
from core.types import SECTION_SEPARATOR, Chunk

BLANK = "_____"
# "- **Term**: definition" (bold term) or "- Term: definition" (a short plain term, as plain-text lessons write it).
_TERM_ITEM = re.compile(
    r"^\s*(?:[-*+]|\d{1,3}[.)])\s+(?:\*\*(?P<bold>[^*\n]{2,60}?)\*\*|(?P<plain>[A-Z][\w /&'()-]{1,50}?))\s*:\s+(?P<definition>\S.{9,})$"
)
# "A model registry is a central catalog ..." / "Experiment tracking is the practice of ..."
_IS_SENTENCE = re.compile(r"^(?:(?:An?|The)\s+)?(?P<term>[A-Z][\w/()'-]*(?:\s+[\w/()'-]+){0,4}?)\s+(?:is|are)\s+(?P<definition>(?:an?|the)\s+.{10,})$")
PRONOUN_START = re.compile(r"^(?:it|this|these|they|that|those|such|its|their|there|here|each|every|one|both)\b", re.I)
_MARKUP = re.compile(r"\*\*|__|`")
# Looser shapes for eval questions, which need a term and a fact, not a definition that stands alone as an answer:
# "X (abbr) is/are/refers to/means ..." and "**X**: ..." as split_sentences gives a list item.
_DEFINITION = re.compile(
    r"^(?:(?P<article>(?i:an?|the))\s+)?(?P<term>[A-Za-z][\w\-/ ]{1,60}?)(?:\s*\([^)]{1,40}\))?,?\s+(?P<verb>is|are|refers to|means)\s+(?P<rest>.{12,})$"
)
_BOLD_TERM = re.compile(r"^\*\*(?P<term>[^*]{2,60})\*\*\s*:\s*(?P<rest>.{12,})$")
_WORD = re.compile(r"[A-Za-z][A-Za-z\-']+")
PRONOUNS = frozenset("it its this that there these they their those such his her our your we you".split())


def plain(text: str) -> str:
    """Text without Markdown emphasis or code marks, whitespace normalised."""
    return normalise_space(_MARKUP.sub("", text))


@dataclass(frozen=True)
class Definition:
    """A term the course defines, with its defining clause, from a term list ('- **Term**: ...') or an 'X is a ...' sentence."""

    term: str
    definition: str  # plain text, no trailing full stop
    sentence: str  # the course sentence it comes from, for the explanation
    chunk: Chunk
    group: str  # terms of one list share a group; 'X is Y' sentences are grouped by lesson


_CLAUSE_BREAK = re.compile(r"; |, (?:and|but|so|which) (?=\S)")
_VAGUE = re.compile(r"\b(?:this|these|those|that (?:problem|approach|way|one|step|issue|gap))\b", re.I)
_ARTICLE = re.compile(r"^(?:an?|the)\s+", re.I)


def _first_clause(definition: str) -> str:
    """The defining clause: up to a ';' or a ', and ...' that starts a new thought (when enough precedes it)."""
    text = plain(definition).rstrip(".")
    for match in _CLAUSE_BREAK.finditer(text):
        if len(text[: match.start()].split()) >= 5:
            return text[: match.start()].strip()
    return text.strip()


def _usable_definition(term: str, definition: str) -> bool:
    """A definition that stands alone: starts like one, says enough, and does not point back at earlier text."""
    first = definition.split()[0] if definition.split() else ""
    starts_well = (first[:1].islower() or first.endswith("'s")) and first.lower() not in {"also", "and", "but", "or", "so"}
    words = [w.lower().strip("(),") for w in _ARTICLE.sub("", term).split()]
    # 'In the notation where X' is a clause, not a term: only joining words may be stop words.
    clause_like = any(w in STOPWORDS and w not in {"and", "of", "or", "for", "to"} for w in words)
    return starts_well and len(content_words(definition)) >= 4 and not _VAGUE.search(definition) and not clause_like


def definitions(chunk: Chunk) -> list[Definition]:
    """The definitions a quiz can be written from: each stands alone (see _usable_definition)."""
    found: list[Definition] = []
    list_number = 0
    in_list = False
    for line in chunk.text.splitlines():
        match = _TERM_ITEM.match(line)
        if not match:
            if line.strip():
                in_list = False
            continue
        if not in_list:
            list_number += 1
            in_list = True
        term = plain(match.group("bold") or match.group("plain"))
        definition = _first_clause(match.group("definition"))
        if (match.group("plain") and len(term.split()) > 4) or not _usable_definition(term, definition):
            continue
        found.append(Definition(term, definition, plain(line.lstrip(" -*+")), chunk, f"{chunk.id}:{list_number}"))
    for sentence in split_sentences(chunk.text):
        if sentence.is_item:
            continue
        match = _IS_SENTENCE.match(plain(sentence.text))
        if not match:
            continue
        term, definition = _ARTICLE.sub("", match.group("term")), _first_clause(match.group("definition"))
        if not PRONOUN_START.match(term) and _usable_definition(term, definition):
            found.append(Definition(term, definition, plain(sentence.text), chunk, chunk.source))
    return found


def heading_definitions(chunks: list[Chunk]) -> list[tuple[str, str, Chunk]]:
    """(question, answer, chunk) for sections headed 'What is X?' or 'What X is': the answer is the section's first sentence."""
    found = []
    seen_sections: set[tuple[str, str]] = set()
    for chunk in chunks:
        key = (chunk.source, chunk.section)
        question = heading_question(chunk.section.split(SECTION_SEPARATOR)[-1])
        if not question or key in seen_sections:
            continue
        seen_sections.add(key)
        sentences = [s for s in split_sentences(chunk.text) if not s.is_item and len(s.text.split()) >= 6]
        if sentences:
            found.append((question, plain(sentences[0].text), chunk))
    return found


def definition_sentence(sentence: str) -> re.Match | None:
    """A sentence shaped like a definition, loosely: groups `term`, `rest`, and `verb`/`article` where written."""
    return _BOLD_TERM.match(sentence) or _DEFINITION.match(sentence)


def rarest_word(text: str, exclude: set[str], document_frequency: Counter) -> str | None:
    """The text's rarest course term (as written in the text), not one of `exclude`.

    A word in only one passage is usually incidental ("entire", "welcome"); a word the course uses
    in two or more passages is one of its concepts, so only those are picked."""
    best: tuple[int, int, str] | None = None
    for position, word in enumerate(_WORD.findall(text)):
        stems = content_words(word)
        if len(word) < 5 or "'" in word or not stems or stems[0] in exclude or document_frequency[stems[0]] < 2:
            continue
        key = (document_frequency[stems[0]], position, word)
        if best is None or key < best:
            best = key
    return best[2] if best else None




# Headings that name a kind of section, not a topic ("Summary", "Exercises"): no question is asked of them.
GENERIC_HEADINGS = frozenset({
    "introduction", "overview", "summary", "conclusion", "conclusions", "references", "resources", "exercises",
    "exercise", "quiz", "recap", "further reading", "next steps", "key takeaways", "takeaways",
    "learning objectives", "objectives", "prerequisites", "notes", "what's next", "glossary",
})


def chunk_questions(chunk: Chunk) -> list[str]:
    """Questions a passage answers, written offline from its own text: its heading as a question ("What is data
    drift?"; a heading that is a question stays) and "What is X?" for every term it defines (see `definitions`).
    Retrieval embeds them as extra vectors of the passage, so a learner's question can match them."""
    leaf = chunk.section.split(SECTION_SEPARATOR)[-1].strip()
    questions: list[str] = []
    # A lesson's opening section is headed by the lesson's title, which every question about the lesson resembles.
    if content_words(leaf) and leaf.lower() not in GENERIC_HEADINGS and leaf != chunk.title:
        questions.append(heading_question(leaf) or f"What is {plain(leaf)}?")
    for found in definitions(chunk):
        question = f"What is {found.term}?"
        if question not in questions:
            questions.append(question)
    return questions
