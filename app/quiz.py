"""Quiz logic: items generated offline from the indexed course, their quality filters, grading, and the quiz session.

Sessions are plain data (QuizSession.to_dict/from_dict) and every step is a function of (guide, session, reply),
so the state can travel with the client and any replica can serve the next turn."""
from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Iterable

import numpy as np

from app.answer import Guide
from core.model import TextEmbedder
from core.quiz import TRUE_FALSE_CHOICES, Grade, QuizItem
from core.text import STOPWORDS, content_words, heading_question, normalise_space, split_sentences
from core.types import SECTION_SEPARATOR, Chunk

DEFAULT_QUIZ_LENGTH = 5
_LETTERS = "ABCDEFGH"
# "- **Term**: definition" (bold term) or "- Term: definition" (a short plain term, as plain-text lessons write it).
_TERM_ITEM = re.compile(
    r"^\s*(?:[-*+]|\d{1,3}[.)])\s+(?:\*\*(?P<bold>[^*\n]{2,60}?)\*\*|(?P<plain>[A-Z][\w /&'()-]{1,50}?))\s*:\s+(?P<definition>\S.{9,})$"
)
# "A model registry is a central catalog ..." / "Experiment tracking is the practice of ..."
_IS_SENTENCE = re.compile(r"^(?:(?:An?|The)\s+)?(?P<term>[A-Z][\w/()'-]*(?:\s+[\w/()'-]+){0,4}?)\s+(?:is|are)\s+(?P<definition>(?:an?|the)\s+.{10,})$")
_PRONOUN_START = re.compile(r"^(?:it|this|these|they|that|those|such|its|their|there|here|each|every|one|both)\b", re.I)
_PAREN = re.compile(r"\s*\([^)]*\)")
_MARKUP = re.compile(r"\*\*|__|`")
# Synonym test for distractors: choices closer than this in meaning would both be right answers.
_SYNONYM_SIMILARITY = 0.8
_BLANK = "_____"
log = logging.getLogger("course_guide")


class QuizError(ValueError):
    """No quiz can be given (e.g. the topic is not in the course); the message is for the learner."""


# ---------------------------------------------------------------- quality filters

def plain(text: str) -> str:
    """Text without Markdown emphasis or code marks, whitespace normalised."""
    return normalise_space(_MARKUP.sub("", text))


def _norm(text: str) -> str:
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
    if f" {_norm(answer)} " in f" {_norm(question)} " or answer_words <= question_words:
        return True
    return len(answer_words) <= 3 and head_word(answer) in question_words


def trivial_term(term: str) -> bool:
    """A blank on this would test nothing: a stop word, a pronoun, a number, too short, or too long to be a term."""
    bare = _PAREN.sub("", plain(term)).strip()
    words = bare.split()
    if len(bare) < 3 or not words or len(words) > 6:
        return True
    if bare.lower() in STOPWORDS or _PRONOUN_START.match(bare) or bare.replace(".", "").isdigit():
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
    if _norm(a) == _norm(b) or not wa or not wb or head_word(a) == head_word(b) or wa <= wb or wb <= wa:
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
    if item.type != "true_false" and f" {_norm(evidence)} " in f" {_norm(chunk.text)} ":
        return True
    return coverage(content_words(evidence.replace(_BLANK, " ")), chunk.text) >= 0.9


def dedupe(items: list[QuizItem]) -> list[QuizItem]:
    """Drop items asking the same question, or testing the same answer the same way, as an earlier one."""
    seen: set[tuple[str, str]] = set()
    long_answers: list[str] = []  # short-answer model answers so far, normalised
    kept = []
    for item in items:
        keys = {("q", _norm(item.question)), (item.type, _norm(item.answer) + "|" + _norm(item.question)[:40])}
        answer = f" {_norm(item.answer)} "
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

@dataclass(frozen=True)
class _Definition:
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


def _definitions(chunk: Chunk) -> list[_Definition]:
    found: list[_Definition] = []
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
        found.append(_Definition(term, definition, plain(line.lstrip(" -*+")), chunk, f"{chunk.id}:{list_number}"))
    for sentence in split_sentences(chunk.text):
        if sentence.is_item:
            continue
        match = _IS_SENTENCE.match(plain(sentence.text))
        if not match:
            continue
        term, definition = _ARTICLE.sub("", match.group("term")), _first_clause(match.group("definition"))
        if not _PRONOUN_START.match(term) and _usable_definition(term, definition):
            found.append(_Definition(term, definition, plain(sentence.text), chunk, chunk.source))
    return found


def _heading_definitions(chunks: list[Chunk]) -> list[tuple[str, str, Chunk]]:
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


def _distractors(target: _Definition, pool: list[_Definition], vectors: dict[str, np.ndarray], want: int = 3) -> list[str]:
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
    definitions = [d for chunk in chunks for d in _definitions(chunk) if not trivial_term(d.term)]
    vectors = term_vectors((d.term for d in definitions), embedder)
    taken: set[str] = set()
    items: list[QuizItem] = []
    for question, answer, chunk in _heading_definitions(chunks):
        term = re.sub(r"^what (?:is|are) |\?$", "", question, flags=re.I)
        items.append(_make("short_answer", _item_id("what", chunk.source, term, taken), question, answer,
                           f"The course says: “{answer}”", chunk))
    for d in definitions:
        location = d.chunk.title
        explanation = f"The course says: “{d.sentence}”"
        items.append(_make("short_answer", _item_id("def", d.chunk.source, d.term, taken),
                           f"In “{location}”, what is meant by “{d.term}”?", _capitalised(d.definition) + ".", explanation, d.chunk))
        is_sentence = not d.group.startswith(d.chunk.id)
        if is_sentence:
            verb = " are " if re.search(rf"\b{re.escape(d.term)}\s+are\b", d.sentence) else " is "
            items.append(_make("short_answer", _item_id("cloze", d.chunk.source, d.term, taken),
                               f"Fill in the blank: {_BLANK}{verb}{d.definition}.", d.term, explanation, d.chunk))
        choices = _distractors(d, definitions, vectors)
        if len(choices) >= 2:  # at least three choices
            order = _stable_order([d.term, *choices], d.term)
            items.append(_make("multiple_choice", _item_id("mc", d.chunk.source, d.term, taken),
                               f"Which term matches this description: “{_capitalised(d.definition)}”?", d.term, explanation, d.chunk, order))
        siblings = [s for s in definitions if s.group == d.group and s.term != d.term]
        if siblings and not is_sentence:
            # True for every other item of a list, false (a sibling's definition) for the rest: deterministic, balanced.
            truthful = int(hashlib.sha1(d.term.encode()).hexdigest(), 16) % 2 == 0
            other = siblings[sum(1 for s in definitions if s.group == d.group and s.term < d.term) % len(siblings)]
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


# ---------------------------------------------------------------- the items of a course

_cache: dict[tuple[str, str], list[QuizItem]] = {}
_cache_lock = threading.Lock()


def course_items(guide: Guide) -> dict[str, QuizItem]:
    """Instructor items (from the index manifest) then generated ones, by id; generated items are cached per index generation."""
    manifest = guide.index.refresh()
    key = (str(guide.settings.db_dir), manifest.generation)
    with _cache_lock:
        if key not in _cache:
            _cache.clear()
            _cache[key] = generate_items(guide.index.chunks(), guide.embedder)
        generated = _cache[key]
    items = {item["id"]: QuizItem.from_dict(item) for item in manifest.quiz_items}
    for item in generated:
        items.setdefault(item.id, item)
    with _cache_lock:
        for written in _llm_cache.values():
            for item in written:
                items.setdefault(item.id, item)
    return items


def select_items(guide: Guide, items: dict[str, QuizItem], topic: str | None, n: int) -> list[QuizItem]:
    """Up to n items on the topic (by retrieval over the course), instructor items first; without a topic, a spread over lessons."""
    pool = list(items.values())
    if not topic or not topic.strip():
        by_lesson: dict[str, list[QuizItem]] = {}
        for item in sorted(pool, key=lambda i: (i.origin != "instructor", i.source)):
            by_lesson.setdefault(item.source, []).append(item)
        lessons = list(by_lesson.values())
        spread = [lesson[i] for i in range(max(map(len, lessons), default=0)) for lesson in lessons if i < len(lesson)]
        return _mix_types(_varied(spread, n))
    hits = guide.index.search(guide.embedder.encode([topic])[0], k=12)
    if not hits or hits[0].score < guide.settings.refusal_threshold:
        raise QuizError(f"The course has no quiz questions on “{topic}”. Try a topic from the course contents, or say “quiz me” for a mix.")
    rank_of_chunk = {hit.chunk.id: rank for rank, hit in enumerate(hits) if hit.score >= hits[0].score - 0.15}
    rank_of_section = {}
    for hit in hits:
        if hit.chunk.id in rank_of_chunk:
            rank_of_section.setdefault((hit.chunk.source, hit.chunk.section), rank_of_chunk[hit.chunk.id])
    ranked = []
    for item in pool:
        rank = rank_of_chunk.get(item.chunk_id, rank_of_section.get((item.source, item.section)))
        if rank is not None:
            ranked.append((rank, item.origin != "instructor", item))
    ranked.sort(key=lambda r: (r[0], r[1]))
    return _mix_types(_varied([item for *_, item in ranked], n, spread_sections=False))


def _concept(item: QuizItem) -> str:
    """What an item tests: generated items of one term (definition, cloze, choice, true/false) share it."""
    match = re.match(r"^gen-[^-]+-[a-z]+-(.+?)(?:-\d+)?$", item.id)
    return match.group(1) if match and item.origin == "generated" else item.id


def _varied(items: list[QuizItem], n: int, spread_sections: bool = True) -> list[QuizItem]:
    """Up to n items in the given order, one per term; with spread_sections, a section repeats only when the others are used up."""
    chosen: list[QuizItem] = []
    for new_section_only in (True, False) if spread_sections else (False,):
        for item in items:
            if len(chosen) == n:
                return chosen
            if item in chosen or _concept(item) in {_concept(c) for c in chosen}:
                continue
            if new_section_only and (item.source, item.section) in {(c.source, c.section) for c in chosen}:
                continue
            chosen.append(item)
    return chosen


def _mix_types(items: list[QuizItem]) -> list[QuizItem]:
    """Keep the order, but avoid asking the same kind of question twice in a row when another kind is waiting."""
    rest, mixed = list(items), []
    while rest:
        pick = next((i for i in rest if not mixed or i.type != mixed[-1].type), rest[0])
        rest.remove(pick)
        mixed.append(pick)
    return mixed


# ---------------------------------------------------------------- items the optional LLM writes

LLM_QUIZ_PROMPT = (
    "You write quiz questions for learners of a course. Use only facts stated in the passage. "
    'Reply with JSON only, in this shape: {"items": [{"type": "multiple_choice" | "true_false" | "short_answer", '
    '"question": "...", "choices": ["...", "..."], "answer": "...", "explanation": "..."}]}. '
    "Write at most 2 items. For multiple_choice give 3 or 4 choices and make the answer one of them; "
    "for true_false the answer is true or false; for short_answer the answer is a short phrase quoted from the passage. "
    "Never put the answer in the question."
)
LLM_ITEMS_PER_QUIZ = 2
# LLM items by chunk id, written once per process; the chat replays a quiz from its history, so they must stay findable.
_llm_cache: dict[str, list[QuizItem]] = {}


def _llm_item(raw: object, chunk: Chunk) -> QuizItem | None:
    """One LLM-written item, or None if it is malformed or fails the checks every generated item passes."""
    if not isinstance(raw, dict):
        return None
    kind, question, explanation = raw.get("type"), raw.get("question"), raw.get("explanation") or ""
    answer, choices = raw.get("answer"), raw.get("choices") or []
    if kind not in ("multiple_choice", "true_false", "short_answer") or not isinstance(question, str) or not question.strip():
        return None
    if not isinstance(explanation, str) or not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        return None
    if kind == "true_false":
        if str(answer).strip().lower() not in ("true", "false"):
            return None
        answer, choices = TRUE_FALSE_CHOICES[0 if str(answer).strip().lower() == "true" else 1], list(TRUE_FALSE_CHOICES)
    elif not isinstance(answer, str) or not answer.strip():
        return None
    elif kind == "multiple_choice":
        letters = {_LETTERS[i]: c for i, c in enumerate(choices)}
        answer = letters.get(answer.strip().upper(), answer)
        distractors = [c for c in choices if c != answer]
        if not 3 <= len(choices) <= 5 or answer not in choices or any(synonyms(answer, d) for d in distractors):
            return None
    else:
        choices = []
    digest = hashlib.sha1(f"{chunk.id}|{question}".encode()).hexdigest()[:10]
    item = QuizItem(id=f"llm-{digest}", type=kind, question=question.strip(), answer=answer.strip(),
                    explanation=explanation.strip() or f"See {chunk.location()}.", source=chunk.source, section=chunk.section,
                    chunk_id=chunk.id, origin="llm", choices=choices, page=chunk.page)
    if kind != "true_false" and leaks_answer(item.question, item.answer):
        return None
    return item if supported_by_chunk(item, chunk) else None


def llm_items(guide: Guide, chunk: Chunk) -> list[QuizItem]:
    """Items the LLM writes for one passage, each checked against it (unsupported ones are dropped); [] if it fails."""
    from app.llm import LLMError, chat_completion

    with _cache_lock:
        if chunk.id in _llm_cache:
            return _llm_cache[chunk.id]
    messages = [{"role": "system", "content": LLM_QUIZ_PROMPT},
                {"role": "user", "content": f"Passage from “{chunk.location()}”:\n\n{chunk.text}"}]
    try:
        reply = chat_completion(guide.settings, messages)
        data = json.loads(reply[reply.index("{") : reply.rindex("}") + 1])
    except (LLMError, ValueError) as err:
        log.warning("no LLM quiz items for %s: %s", chunk.location(), err)
        return []
    raw_items = data.get("items") if isinstance(data, dict) else None
    written = [item for raw in (raw_items if isinstance(raw_items, list) else []) if (item := _llm_item(raw, chunk))]
    with _cache_lock:
        _llm_cache[chunk.id] = written
    return written


def quiz_items_for(guide: Guide, topic: str | None, n: int) -> list[QuizItem]:
    """The items of a quiz: with the LLM on and a topic, up to LLM_ITEMS_PER_QUIZ checked LLM items first, then the rest."""
    from app.llm import llm_enabled

    chosen = select_items(guide, course_items(guide), topic, n)
    if not (llm_enabled(guide.settings) and topic and chosen):
        return chosen
    by_id = {c.id: c for c in guide.index.chunks()}
    written = [item for chunk_id in dict.fromkeys(i.chunk_id for i in chosen[:2]) for item in llm_items(guide, by_id[chunk_id])]
    written = written[:LLM_ITEMS_PER_QUIZ]
    return (written + [i for i in chosen if i not in written])[:n]


# ---------------------------------------------------------------- grading

_NO_ANSWER = re.compile(
    r"^(?:i\s*(?:do\s*n[o']?t|don'?t|dont)\s*know|i\s*(?:have\s*)?no\s*idea|no\s*idea|idk|dunno|not\s*sure|pass|skip|"
    r"no\s*clue|i'?m\s*not\s*sure|\?+|-+|\.+|n/?a|none)\W*$",
    re.I,
)
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b.{0,40}\b(?:rules?|instructions?|prompt|above|previous|grading)\b"
    r"|\bmark\b.{0,30}\b(?:correct|right|full|pass(?:ed)?)\b|\b(?:give|award)\b.{0,20}\b(?:full|points?|marks?|credit)\b"
    r"|\b(?:you are now|system prompt|as the grader|grade (?:this|me) as|say (?:that )?(?:this|it) is correct)\b",
    re.I,
)
_TRUE = {"true", "t", "yes", "y", "correct", "right", "tru", "truth"}
_FALSE = {"false", "f", "no", "n", "wrong", "incorrect", "untrue", "fals"}


def _without_injection(reply: str) -> tuple[str, bool]:
    """The reply without sentences that try to instruct the grader, and whether there were any."""
    parts = re.split(r"(?<=[.!?;])\s+|\n+", reply)
    kept = [p for p in parts if not _INJECTION.search(p)]
    return " ".join(kept).strip(), len(kept) != len(parts)


def _choice_from_reply(item: QuizItem, reply: str, embedder: TextEmbedder | None) -> str | None:
    """Which choice the reply picks: by letter, by its text, by true/false words, or by a close paraphrase; None if unclear."""
    text = reply.strip().lower()
    # True/false choices are not lettered on screen, so a lone 'b' there is no answer.
    letters = {_LETTERS[i].lower(): c for i, c in enumerate(item.choices)} if item.type == "multiple_choice" else {}
    match = (
        re.fullmatch(r"[(\[]?([a-h])[)\].:]?", text)
        or re.match(r"^[(\[]?([a-h])[)\].:]\s+", text)
        or re.search(r"\b(?:option|answer|choice|letter)\s*(?:is\s*)?:?\s*[(\[]?([a-h])\b[)\].!]?\s*$", text)
    )
    if match and match.group(1) in letters:
        return letters[match.group(1)]
    if item.type == "true_false":
        words = re.findall(r"[a-z']+", text)
        negated = any(w in {"not", "isn't", "isnt", "never"} for w in words[:3])
        for word in words:
            if word in _TRUE or word in _FALSE:
                value = word in _TRUE
                return TRUE_FALSE_CHOICES[0 if value != negated else 1]
        return None
    normed = f" {_norm(reply)} "
    named = [c for c in item.choices if f" {_norm(c)} " in normed]
    # "Shadow deployment" inside "not canary, shadow deployment" names two: only a single named choice counts.
    named = [c for c in named if not any(c != o and _norm(c) in _norm(o) for o in named)]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        return None
    reply_words = set(content_words(reply))
    overlaps = [(len(reply_words & set(content_words(c))), c) for c in item.choices]
    best = max(o for o, _ in overlaps)
    top = [c for o, c in overlaps if o == best]
    if best > 0 and len(top) == 1:
        return top[0]
    if embedder is None or not reply_words:
        return None
    vectors = embedder.encode([plain(reply), *[plain(c) for c in item.choices]])
    sims = sorted(((float(np.dot(vectors[0], v)), c) for v, c in zip(vectors[1:], item.choices)), reverse=True)
    if sims[0][0] >= 0.55 and sims[0][0] - sims[1][0] >= 0.08:
        return sims[0][1]
    return None


def _grade_choice(item: QuizItem, reply: str, embedder: TextEmbedder | None) -> Grade:
    picked = _choice_from_reply(item, reply, embedder)
    if picked is None:
        options = "true or false" if item.type == "true_false" else "one of the choices (its letter or its text)"
        return Grade(item.id, 0.0, "wrong", f"Your reply does not pick {options}.")
    if picked == item.answer:
        return Grade(item.id, 1.0, "correct", f"You picked “{item.answer}”.")
    return Grade(item.id, 0.0, "wrong", f"You picked “{picked}”, but the answer is “{item.answer}”.")


def _grade_short(item: QuizItem, reply: str, embedder: TextEmbedder | None) -> Grade:
    answer_words = list(dict.fromkeys(content_words(item.answer)))
    question_words = set(content_words(item.question))
    key_terms = [w for w in answer_words if w not in question_words] or answer_words
    reply_words = content_words(reply)
    if not reply_words:
        return Grade(item.id, 0.0, "wrong", "Your reply has no words that answer the question.")
    if _norm(reply) == _norm(item.answer) or (len(answer_words) <= 4 and reply_words == answer_words):
        return Grade(item.id, 1.0, "correct", "Correct.")
    if len(answer_words) <= 4 and set(answer_words) < set(reply_words):
        # 'data drift' for 'drift' names a different, narrower term.
        return Grade(item.id, 0.5, "partly", f"Partly right: the answer is “{item.answer}”, without the extra words.")
    covered = coverage(key_terms, reply)
    similarity = 0.0
    if embedder is not None:
        # The explanation is course text about the same answer: a reply close to it is close in meaning too.
        vectors = embedder.encode([plain(reply), plain(item.answer), plain(item.explanation)])
        similarity = max(float(np.dot(vectors[0], vectors[1])), float(np.dot(vectors[0], vectors[2])))
    meaning = min(1.0, max(0.0, (similarity - 0.35) / 0.45))
    if len(answer_words) <= 4:
        # A term answer (a cloze blank): the words matter more than the sentence's meaning.
        score = max(covered, meaning if similarity >= 0.8 else 0.0)
    else:
        score = 0.6 * meaning + 0.4 * covered
    missing = [w for w in key_terms if coverage([w], reply) == 0][:4]
    if score >= 0.55:
        return Grade(item.id, round(score, 3), "correct", "Correct: your answer matches the course.")
    if score >= 0.25:
        hint = f" It leaves out: {', '.join(missing)}." if missing else ""
        return Grade(item.id, round(score, 3), "partly", f"Partly right: you are on the right track.{hint}")
    return Grade(item.id, round(score, 3), "wrong", "Not quite: your answer does not match what the course says.")


def grade_reply(item: QuizItem, reply: str, embedder: TextEmbedder | None) -> Grade:
    """Grade a learner's reply honestly: no answer, gibberish and requests to be marked correct earn nothing."""
    text, injected = _without_injection(normalise_space(reply or ""))
    if not text or _NO_ANSWER.match(text):
        if injected:
            return Grade(item.id, 0.0, "wrong", "Asking to be marked correct is not an answer; grades come from the course only.")
        return Grade(item.id, 0.0, "wrong", "No answer given, so no points this time.")
    letters = sum(ch.isalpha() for ch in text)
    if item.type == "short_answer" and (letters < 0.5 * len(text) or not any(len(w) > 2 and w not in STOPWORDS for w in re.findall(r"[a-z]+", text.lower()))):
        return Grade(item.id, 0.0, "wrong", "Your reply does not read as an answer.")
    grade = _grade_choice(item, text, embedder) if item.choices else _grade_short(item, text, embedder)
    if injected:
        grade = Grade(grade.item_id, grade.score, grade.verdict, grade.reason + " (Instructions to the grader were ignored.)")
    return grade


# ---------------------------------------------------------------- the quiz session

_STOP = re.compile(r"^\s*(?:stop|quit|exit|end|done|finish|enough)(?:\s+(?:the\s+)?quiz)?\s*[.!]*\s*$", re.I)


def is_stop(reply: str) -> bool:
    return bool(_STOP.match(reply or ""))


@dataclass
class QuizSession:
    """Where a learner is in a quiz: plain JSON-serialisable data, carried by the client between turns."""

    topic: str | None
    queue: list[str]  # item ids still to ask
    current: str | None = None  # the item id asked last, awaiting a reply
    results: list[dict] = field(default_factory=list)  # {item_id, verdict, score}, in the order answered
    brought_back: list[str] = field(default_factory=list)  # items re-asked because their topic was missed
    finished: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> QuizSession:
        return cls(**data)

    @property
    def score(self) -> float:
        return sum(r["score"] for r in self.results)

    def total(self) -> int:
        return len(self.results) + len(self.queue) + (1 if self.current and not self.finished else 0)


def _link(guide: Guide, item: QuizItem) -> str:
    """Markdown link to the item's passage; relative, like the chat's citations."""
    chunk = next((c for c in guide.index.chunks() if c.id == item.chunk_id), None)
    if chunk is None:
        return item.section
    return f"[{chunk.location()}]({chunk.link()})"


def question_markdown(item: QuizItem, number: int, total: int) -> str:
    # The cloze blank is underscores, which Markdown would read as emphasis.
    lines = [f"**Question {number} of {total}** · {item.section.split(SECTION_SEPARATOR)[0]}", "", item.question.replace("_", "\\_")]
    if item.type == "multiple_choice":
        lines += [""] + [f"{_LETTERS[i]}. {choice}" for i, choice in enumerate(item.choices)]
        hint = "Reply with a letter or the answer"
    elif item.type == "true_false":
        hint = "Reply true or false"
    else:
        hint = "Reply in a few words"
    return "\n".join(lines + ["", f"_{hint}, or say “stop” to end the quiz._"])


def _score_line(session: QuizSession) -> str:
    return f"**Score: {session.score:g} / {len(session.results)}**"


def start_quiz(guide: Guide, topic: str | None = None, n: int = DEFAULT_QUIZ_LENGTH) -> tuple[QuizSession, str]:
    """A new session on `topic` (None: a mix) and its first question; QuizError if there is nothing to ask."""
    chosen = quiz_items_for(guide, topic, n)
    if not chosen:
        raise QuizError("This course has no quiz questions yet.")
    session = QuizSession(topic=topic, queue=[i.id for i in chosen[1:]], current=chosen[0].id)
    about = f" on “{topic}”" if topic else ""
    intro = f"Here is a quiz{about}: {len(chosen)} questions, one at a time."
    return session, f"{intro}\n\n{question_markdown(chosen[0], 1, session.total())}"


def _bring_back(session: QuizSession, items: dict[str, QuizItem], missed: QuizItem) -> None:
    """Ask about a missed topic again a little later: another item of the same section if there is one, else the same item."""
    if missed.id in session.brought_back or any(missed.id == b for b in session.brought_back):
        return
    asked = {r["item_id"] for r in session.results} | set(session.queue)
    other = next((i for i in items.values() if i.source == missed.source and i.section == missed.section and i.id not in asked), None)
    again = other or missed
    session.queue.insert(min(2, len(session.queue)), again.id)
    session.brought_back += [missed.id, again.id]


def summary_markdown(guide: Guide, session: QuizSession, items: dict[str, QuizItem]) -> str:
    answered = len(session.results)
    if not answered:
        return "**Quiz ended.** No questions were answered. Say “quiz me” to start again."
    percent = round(100 * session.score / answered)
    lines = [f"**Quiz finished.** You scored {session.score:g} out of {answered} ({percent}%)."]
    missed = [items[r["item_id"]] for r in session.results if r["verdict"] != "correct" and r["item_id"] in items]
    sections = list(dict.fromkeys((m.source, m.section) for m in missed))
    if sections:
        lines += ["", "**Lessons to review**", ""]
        for source, section in sections:
            item = next(m for m in missed if (m.source, m.section) == (source, section))
            lines.append(f"- {_link(guide, item)}")
    else:
        lines += ["", "Nothing to review: every answer was right."]
    return "\n".join(lines + ["", "Say “quiz me on TOPIC” for another quiz."])


def answer_turn(guide: Guide, session: QuizSession, reply: str) -> tuple[str, QuizSession]:
    """Grade the reply to the current question and ask the next one (or end with a summary). Returns a new session."""
    session = QuizSession.from_dict(session.to_dict())
    items = course_items(guide)
    if session.finished or session.current is None:
        session.finished = True
        return "The quiz is over. Say “quiz me” to start another.", session
    if is_stop(reply):
        session.finished, session.current = True, None
        return summary_markdown(guide, session, items), session
    item = items.get(session.current)
    if item is None:
        # The course was re-indexed mid-quiz and this item is gone: skip it rather than fail.
        text = "That question is no longer in the course, so it is skipped."
    else:
        grade = grade_reply(item, reply, guide.embedder)
        session.results.append({"item_id": item.id, "verdict": grade.verdict, "score": grade.score})
        # Words, not emoji: a learner's machine may have no emoji font (the page would show empty boxes).
        mark = {"correct": "**Right.**", "partly": "**Partly right.**", "wrong": "**Not right.**"}[grade.verdict]
        answer = f"{_LETTERS[item.choices.index(item.answer)]}. {item.answer}" if item.type == "multiple_choice" else item.answer
        text = "\n".join([
            f"{mark} {grade.reason}", "", f"**Answer:** {answer}", "", item.explanation, "",
            f"Reread: {_link(guide, item)}", "", _score_line(session),
        ])
        if grade.verdict != "correct":
            _bring_back(session, items, item)
    while session.queue and session.queue[0] not in items:
        session.queue.pop(0)
    if not session.queue:
        session.finished, session.current = True, None
        return f"{text}\n\n---\n\n{summary_markdown(guide, session, items)}", session
    session.current = session.queue.pop(0)
    next_item = items[session.current]
    return f"{text}\n\n---\n\n{question_markdown(next_item, len(session.results) + 1, session.total())}", session
