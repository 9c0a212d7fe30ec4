"""The offline answerer: pick the course sentences that best answer the question and cite each one; nothing is reworded."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from app.engine.conversation import definition_target, split_about
from app.engine.meaning import SentenceMeaning
from core.furniture import is_appendix_heading, is_pointer, without_furniture
from core.settings import Settings
from core.text import Sentence, content_words, split_sentences
from core.types import SECTION_SEPARATOR, Answer, Chunk, Citation, RetrievedChunk

_TERM_ITEM = re.compile(r"^\*\*(.+?)\*\*\s*:")
# "Feast: an open-source feature store ...": a list item naming a term (at most four words) before its colon.
_PLAIN_TERM_ITEM = re.compile(r"^([^:.;!?]{1,40}?)\s*:\s+\S")
_PRONOUN_START = re.compile(r"^(?:it|this|these|they|that|those|such|its|their)\b", re.I)
# A sentence opening like this goes on from the one before it ("Instead of ..., it lets you ...", "For example, ...").
_CONNECTIVE_START = re.compile(
    r"^(?:instead|however|for (?:example|instance)|in other words|that is|otherwise|in practice|as a result|therefore|"
    r"thus|so|then|also|in (?:contrast|short|turn)|because of (?:this|that))\b", re.I)
# A best sentence shorter than this ("Feedback loops can also cause harm.") announces what its next sentence says.
_TOPIC_SENTENCE_WORDS = 8
_LONGEST_LIST = 9  # items quoted after a list lead-in
_LONGEST_CODE = 25  # lines of a code block quoted after its lead-in
_FENCE = re.compile(r"^\s*(```|~~~)")
# Passages scoring this far below the best one are not quoted: they are usually off-topic neighbours.
_PASSAGE_MARGIN = 0.12
# "Which lesson covers X?", "In which module is X explained?", "Where is X discussed?": the answer names the place.
_WHERE_COVERED = re.compile(
    r"^\s*(?:(?:in|from)\s+)?(?:which|what)\s+(?:lesson|module|week|chapter|unit|section|lecture)s?\b"
    r"|^\s*where\b.*\b(?:covered|discussed|explained|taught|introduced|described|mentioned|learn|talks?|covers?)\b",
    re.I,
)

# What kind of answer a question asks for, and how a sentence shows it holds one (README, 'Offline answers').
# "example" and "caveat", dev set with TOPIC_SHARE: key facts 76.8% with "example" ("Can you give me a concrete
# example?"), 77.7% with "caveat" ("What's the catch?") added; "caveat" without "example": 77.2%. Median answer unchanged.
_ASKS = [
    ("example", re.compile(r"\b(?:an?|some|another|concrete|real|specific)\s+(?:\w+\s+)?examples?\b|\bfor instance\b|\billustrat", re.I)),
    ("caveat", re.compile(r"\b(?:catch|downsides?|drawbacks?|disadvantages?|cons|limitations?|pitfalls?|risks?|trade-?offs?)\b", re.I)),
    ("number", re.compile(
        r"\bhow (?:many|much|long|often|big|large|fast|old)\b|\bwhat (?:score|percentage|percent|share|fraction|number|ratio|"
        r"accuracy|size|threshold|rate|proportion)\b", re.I)),
    ("date", re.compile(r"^\s*when\b|\b(?:what|which) (?:year|date|month|decade|century)\b|\bin (?:what|which) year\b", re.I)),
    ("name", re.compile(r"^\s*who\b|\bwhose\b|\bwhich (?:person|people|company|companies|organi[sz]ations?|team)\b", re.I)),
    ("code", re.compile(
        # "Which tools", "which end-to-end ML platforms": up to two words may qualify the noun ("what do tools" is no such).
        r"\b(?:which|what) (?:(?!(?:is|are|was|were|do|does|did|can|could|should|would|will|the)\b)[\w-]+ ){0,2}(?:tools?|functions?|commands?|librar(?:y|ies)|methods?|class(?:es)?|packages?|modules?|"
        r"frameworks?|apis?|estimators?|orchestrators?|platforms?|products?)\b", re.I)),
    ("list", re.compile(
        r"\bwhat (?:kinds?|types?|sorts?|forms?) of\b|\bwhat do (?:you|we|i|teams?) (?:gain|get)\b"
        r"|^\s*what (?:are|were) (?:the |some )?(?:main |key |common |different |typical |usual |core |major |basic )?"
        r"[a-z-]+(?: [a-z-]+)?s\b(?: (?:of|for) [a-z -]+)?\s*\??$"
        r"|\b(?:benefits|advantages|drawbacks|disadvantages|stages|phases|kinds|types|categories|patterns|strategies|"
        r"principles|components|pillars)\b", re.I)),
    ("steps", re.compile(r"^\s*how (?:do|can|should|would) (?:i|we|you)\b|^\s*how to\b", re.I)),
]
_NUMBER = re.compile(
    r"\d|%|\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|fifty|hundred|thousand|million|"
    r"billion|half|once|twice)\b", re.I)
# A sentence that gives an example: "for example", "e.g.", "such as", "in the churn example", "customer 42 ... 1 March".
_EXAMPLE = re.compile(r"\bfor (?:example|instance)\b|\be\.g\.|\bsuch as\b|\bin the \w+ example\b|\b(?:imagine|suppose|consider)\b|\d", re.I)
# A sentence that names a cost or a limit: "but", "however", "the downside", "lock-in", "harder to", "at some cost".
_CAVEAT = re.compile(
    r"\b(?:but|however|although|downside|drawbacks?|disadvantages?|lock-in|harder|risks?|costs?|cannot|can't|limit(?:s|ed|ation)?|"
    r"trade-?offs?|expensive|slow(?:er)?|fragile|only if|at the price)\b", re.I)
_DATE = re.compile(
    r"\b(?:1[5-9]\d\d|20\d\d)s?\b|\b(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December)\b")
_CODE = re.compile(r"`[^`]+`|\b[a-z]+[A-Z]\w*\b|\b[A-Z][a-z]+[A-Z]\w*\b|\b\w+\.\w+\(|\b\w+\(\)")
# A condensed follow-up's topic words ("... (about point-in-time correctness)") weigh this share of their IDF in a
# sentence's word overlap: the topic already found the passage, the follow-up's own words pick the sentence. Dev set:
# key facts 75.8% -> 76.3% at 0.5, 76.8% at 0.2 and at 0, median answer unchanged.
TOPIC_SHARE = 0.2
# Weight of a sentence's cosine similarity to the question (app.engine.meaning) in its score. Off: on the dev set
# 0.15 and 0.3 raised semantic similarity (0.66 -> 0.68) but lowered key facts (70.5% -> 69.9%) and citation
# precision (71.7% -> 70.4%), so it stays 0 until it helps; at 0 no sentence is encoded (README, 'How answers are made').
MEANING_WEIGHT = 0.0
# Bonus for a sentence that holds the kind of answer the question asks for (measured on the dev set, see README).
TYPE_BONUS = 0.1
# A question asking for a set ("what kinds of", "the main patterns", "benefits") is answered with the whole list its best
# item belongs to (dev set: key facts 70.5% -> 71.5% from the type bonus alone, -> 72.1% with the whole list).
LIST_WHOLE = True
# Taken off a sentence about the course rather than from it ("This lesson walks through ..."): 72.1% -> 72.4%.
SIGNPOST_PENALTY = 0.2
# Further sentences are quoted while they score at least this share of the best one (was 0.8; dev set 72.4% -> 73.7%
# at 0.7, median answer 76 -> 83 words; 0.65 gave 74.2% at 86 words, too close to the 90-word aim).
FOLLOW_SHARE = 0.7
# The best sentence brings the next one of its paragraph when that one opens with a connective ("Instead of ...") or the
# best one is a short topic sentence ("Feedback loops can also cause harm."), as well as when it is pronoun-led.
# Dev set, both together: key facts 73.7% -> 74.2%, median answer 83 words either way.
CONNECTIVE_FOLLOWS = True
TOPIC_SENTENCE_FOLLOWS = True
# Two or more items of one list chosen on their own merits bring the whole list and its lead-in: 74.2% -> 75.3%, 87 words.
WHOLE_LIST_FROM_ITEMS = True
# Any quoted short topic sentence brings its next sentence, not only the best one: 75.3% -> 75.8%, 84 words.
EVERY_TOPIC_SENTENCE = True
# A passage's closeness is its cosine as a share of the closest passage's, not of the first-ranked one's (the first may be
# less close once BM25 and generated questions rank it): key facts unchanged, citation precision 69.2% -> 70.0%, 84 words.
PASSAGE_SHARE_OF_CLOSEST = True
# A sentence directly followed by a list leads into it when the question asks for a set or for names, colon or not.
LEAD_WITHOUT_COLON = True
# "- Feast: an open-source feature store ..." defines Feast as "**Feast**: ..." does.
PLAIN_TERM_ITEMS = True
# Taken off a sentence of a lesson's closing part (a challenge, an assignment, review and self study) and off one that
# only points elsewhere ("Learn more in the [docs](...)"): real course repositories end every lesson with such parts.
APPENDIX_PENALTY = 0.2
POINTER_PENALTY = 0.2
# Taken off a PDF's or slide's title line run into its subtitle ("The MLOps Tool Landscape Course handout: which ...").
TITLE_LINE_PENALTY = 0.2
# Added, on top of the type bonus, to a lead-in that brings its code when the question asks how to do something.
STEPS_CODE_BONUS = 0.1
# A lead-in's code block that the chunker cut at the passage's end is quoted on from the section's next passage.
CODE_GOES_ON = True
# "This lesson walks through ...", "In this module you will ...": a sentence about the course, not from its content.
_SIGNPOST = re.compile(
    r"^(?:in )?(?:this|the|these|our|each) (?:lessons?|handouts?|modules?|chapters?|sections?|courses?|units?|weeks?|decks?|"
    r"slides?|guides?|tutorials?|notebooks?|articles?|videos?)\b(?! (?:is|are) (?:a|an|the)\b)", re.I)


def asked_type(question: str) -> str | None:
    """'number', 'date', 'name', 'code', 'list' or 'steps': what the question asks for, when its wording says so."""
    return next((kind for kind, pattern in _ASKS if pattern.search(question)), None)


def holds_type(sentence: Sentence, kind: str, brings_more: bool = False) -> bool:
    """Whether a sentence holds an answer of that kind; `brings_more`: it is a lead-in with a list or code after it."""
    text = sentence.text
    if kind == "example":
        return bool(_EXAMPLE.search(text))
    if kind == "caveat":
        return bool(_CAVEAT.search(text))
    if kind == "number":
        return bool(_NUMBER.search(text))
    if kind == "date":
        return bool(_DATE.search(text))
    if kind == "name":
        return any(word[:1].isupper() and word.strip(",.;:()").isalpha() for word in text.split()[1:])
    if kind == "code":
        return bool(_CODE.search(text)) or sentence.is_item or brings_more
    if kind == "list":
        return sentence.is_item or brings_more
    return brings_more  # steps: a lead-in that brings its list or its code


@dataclass(frozen=True)
class _Candidate:
    rank: int  # rank of its passage
    sentence: Sentence
    score: float
    code: str | None = None  # the fenced code block a lead-in ("use the following code:") introduces
    introduces_list: bool = False  # a lead-in to the list that follows it ("Common triggers are:")


def code_after(passage: str, end: int, continuation: str | None = None) -> str | None:
    """The fenced code block that directly follows position `end` of the passage, at most _LONGEST_CODE lines of it.

    A block the chunker cut at the passage's end goes on in `continuation`, the next passage of the section."""
    rest = passage[end:].lstrip(" \t").removeprefix("\n")
    lines = rest.lstrip("\n").splitlines()
    opening = _FENCE.match(lines[0]) if lines else None
    if opening is None:
        return None
    fence = opening.group(1)
    body: list[str] = []
    closed = False
    for line in lines[1:]:
        if line.strip().startswith(fence):
            closed = True
            break
        body.append(line)
    if not closed and continuation is not None and CODE_GOES_ON:
        for line in continuation.splitlines():
            if line.strip().startswith(fence):
                break
            body.append(line)
    if not any(line.strip() for line in body):
        return None
    if len(body) > _LONGEST_CODE:
        body = body[:_LONGEST_CODE] + ["..."]
    return "\n".join([lines[0].strip(), *body, fence])


def _definition_target(question: str) -> list[str]:
    return content_words(definition_target(question) or "")


def _score_sentences(
    question: str, passages: list[RetrievedChunk], idf: dict[str, float], meaning: SentenceMeaning | None = None
) -> list[list[_Candidate]]:
    all_sentences = [split_sentences(hit.chunk.text) for hit in passages]
    closeness = (
        meaning.similarities(question, [(hit.chunk.id, [s.text for s in sents]) for hit, sents in zip(passages, all_sentences)])
        if meaning is not None and MEANING_WEIGHT
        else [np.zeros(len(sents)) for sents in all_sentences]
    )
    own, topic = split_about(question)
    terms = set(content_words(question))
    # A follow-up's topic ("(about point-in-time correctness)") found its passage; within it, the follow-up's own
    # words ("a concrete example", "the catch") say which sentence answers, so the topic's words weigh less.
    own_words = set(content_words(own))
    term_weight = {t: (TOPIC_SHARE if topic and t not in own_words else 1.0) * idf.get(t, 1.0) for t in terms}
    weight = sum(term_weight.values()) or 1.0
    target = _definition_target(question)
    wants = asked_type(question)
    where = bool(_WHERE_COVERED.search(question))
    best_passage = max(hit.score for hit in passages) if PASSAGE_SHARE_OF_CLOSEST else passages[0].score
    scored: list[list[_Candidate]] = []
    for rank, hit in enumerate(passages):
        heading = hit.chunk.section.split(" > ")[-1]
        heading_words = set(content_words(heading))
        appendix = is_appendix_heading(heading)
        continuation = next((other.chunk.text for other in passages if other.neighbour_of == hit.chunk.id), None)
        candidates = []
        sentences = all_sentences[rank]
        meaning_of = _with_list_meaning(sentences, [float(x) for x in closeness[rank]])
        for position, sentence in enumerate(sentences):
            words = content_words(sentence.text)
            leads_into_list = position + 1 < len(sentences) and sentences[position + 1].is_item
            code = code_after(hit.chunk.text, sentence.end, continuation) if sentence.text.endswith(":") else None
            # A question asking for a set ("Which platforms does the handout list?") also takes the sentence that directly
            # precedes a list as its lead-in, colon or not ("End-to-end platforms bundle ... billing." then the platforms);
            # but only its own words count for it, with no type bonus: "Each tree sees a sample." may just precede a list.
            colon_lead_in = sentence.text.endswith(":") and (leads_into_list or code is not None)
            introduces_list = leads_into_list and (colon_lead_in or (LEAD_WITHOUT_COLON and wants in ("list", "code")))
            lead_in = colon_lead_in or introduces_list
            # A lead-in ("Common triggers are:") speaks for its section: its heading's words count as its own.
            seen = set(words) | heading_words if colon_lead_in else set(words)
            overlap = sum(term_weight[t] for t in terms & seen) / weight
            score = 0.45 * overlap + 0.55 * (hit.score / best_passage) + MEANING_WEIGHT * meaning_of[position]
            if target and wants != "example" and _defines(sentence.text, target):
                score += 0.25
            if position == 0 and terms & heading_words:
                score += 0.05
            if len(words) < 4 and not lead_in:
                score -= 0.2
            if sentence.text.endswith(":") and not lead_in:
                score -= 0.3  # a lead-in to a figure says nothing by itself
            if _SIGNPOST.match(sentence.text) and not where:
                score -= SIGNPOST_PENALTY  # "This lesson covers ...": says what the course holds, not what it says
            if position == 0 and sentence.text.startswith(hit.chunk.title) and not sentence.text.endswith((".", "!", "?")):
                score -= TITLE_LINE_PENALTY  # the lesson's name, not an answer
            if appendix and not where:
                score -= APPENDIX_PENALTY
            if is_pointer(sentence.text):
                score -= POINTER_PENALTY
            if wants and holds_type(sentence, wants, colon_lead_in):
                score += TYPE_BONUS
                if wants == "steps" and code is not None:
                    score += STEPS_CODE_BONUS
            candidates.append(_Candidate(rank, sentence, score, code, introduces_list))
        scored.append(candidates)
    return scored


def _with_list_meaning(sentences: list[Sentence], closeness: list[float]) -> list[float]:
    """A list lead-in ("Common triggers are:") means what its items mean: it takes the closest of them if closer."""
    out = list(closeness)
    for position, sentence in enumerate(sentences):
        if sentence.text.endswith(":"):
            following = position + 1
            while following < len(sentences) and sentences[following].is_item:
                out[position] = max(out[position], closeness[following])
                following += 1
    return out


def _defines(sentence: str, target: list[str]) -> bool:
    """'X is ...', 'X, short for ..., is ...', '**X**: ...' or 'X: ...': the sentence opens with the asked-for term and says what it is."""
    plain = _PLAIN_TERM_ITEM.match(sentence) if PLAIN_TERM_ITEMS else None
    term = _TERM_ITEM.match(sentence) or (plain if plain and len(plain.group(1).split()) <= 4 else None)
    if term:
        return all(t in content_words(term.group(1)) for t in target)
    opening = sentence.lower().split()[: len(target) + 10]
    opening_words = content_words(" ".join(opening))
    return all(t in opening_words for t in target) and any(w in ("is", "are", "refers", "means") for w in opening)


def extractive_answer(
    question: str, retrieved: list[RetrievedChunk], idf: dict[str, float], settings: Settings, meaning: SentenceMeaning | None = None
) -> Answer:
    """Pick the course sentences that best answer the question and cite each one; nothing is reworded.

    With `meaning`, each sentence's closeness in meaning to the question counts too, not only its words."""
    passages = _quotable_passages([hit for hit in retrieved if _has_text(hit)] or retrieved)
    scored = _score_sentences(question, passages, idf, meaning)
    flat = sorted((c for cands in scored for c in cands), key=lambda c: -c.score)
    if not flat:
        whole = next((hit for hit in passages if without_furniture(hit.chunk.text)), None)
        if whole is None:
            # Nothing but furniture (a quiz link, a video thumbnail): say where it is instead of quoting it.
            return _compose(question, [], passages, retrieved, settings, place=passages[0])
        return _quote_passage(question, whole, retrieved, settings)
    best = flat[0]
    chosen: list[_Candidate] = [best]
    limit = settings.max_answer_sentences

    def take(candidate: _Candidate) -> None:
        if candidate not in chosen and len(chosen) < limit:
            chosen.append(candidate)

    same_passage = scored[best.rank]
    index_in_passage = same_passage.index(best)
    whole_list = False
    if LIST_WHOLE and asked_type(question) == "list" and best.sentence.is_item:
        # "What are the main inference patterns?" asks for the whole list, not its closest item: quote it from its top,
        # through its lead-in when it has one ("Versioning data gives you:").
        first = index_in_passage
        while first > 0 and same_passage[first - 1].sentence.is_item:
            first -= 1
        lead = same_passage[first - 1] if first > 0 and same_passage[first - 1].sentence.text.endswith(":") else None
        if lead is not None and lead.code is None:
            best, chosen[:], index_in_passage = lead, [lead], first - 1
        else:
            whole_list = True
            best, chosen[:], index_in_passage = same_passage[first], [same_passage[first]], first
            chosen.extend(_list_after(same_passage, first)[: _LONGEST_LIST - 1])
    # "To load the data, use the following code:" answers with its code block alone, which _compose adds.
    if best.code is None and (best.introduces_list or best.sentence.text.rstrip().endswith(":")):
        # A lead-in such as "MLOps provides several benefits:" answers through the list that follows it.
        limit = max(limit, _LONGEST_LIST)
        items = _list_after(same_passage, index_in_passage)
        continuation = next((i for i, hit in enumerate(passages) if hit.neighbour_of == passages[best.rank].chunk.id), None)
        if continuation is not None and len(items) == len(same_passage) - index_in_passage - 1:
            # The list runs to the end of the passage, so it goes on in the next one (the chunk was split there).
            items += _list_after(scored[continuation], -1)
        for following in items:
            if all(c.sentence.block != following.sentence.block or c.rank != following.rank for c in chosen) and not _redundant(following, chosen):
                take(following)
    elif best.code is None and not whole_list:
        for candidate in flat[1:]:
            if candidate.score < FOLLOW_SHARE * best.score or len(chosen) >= limit:
                break
            if not candidate.sentence.text.endswith(":") and not _redundant(candidate, chosen):
                take(candidate)
    # The best sentence brings the next one of its paragraph when that one goes on about it ("It prevents ...",
    # "Instead of ..., it lets you ..."), or when the best one only announces it ("Feedback loops can also cause harm.").
    if best.code is None and index_in_passage + 1 < len(same_passage):
        after = same_passage[index_in_passage + 1]
        if after.sentence.block == best.sentence.block and after not in chosen and _goes_on(best.sentence, after.sentence):
            chosen.append(after)
    # Any other quoted topic sentence that only announces its next one brings it too.
    for candidate in list(chosen) if EVERY_TOPIC_SENTENCE else []:
        position = scored[candidate.rank].index(candidate)
        if candidate is best or candidate.code is not None or position + 1 >= len(scored[candidate.rank]):
            continue
        after = scored[candidate.rank][position + 1]
        if after.sentence.block == candidate.sentence.block and after not in chosen and _is_topic_sentence(candidate.sentence) \
                and not after.sentence.is_item and not after.sentence.text.endswith(":"):
            chosen.append(after)
    # Two or more items of one list make the answer that list: it is quoted whole, from its lead-in when it has one.
    if WHOLE_LIST_FROM_ITEMS:
        for candidate in _whole_lists(chosen, scored):
            if candidate not in chosen:
                chosen.append(candidate)
    # A sentence that opens with "It", "This", "They" ... brings the sentence it refers to.
    for candidate in list(chosen):
        position = scored[candidate.rank].index(candidate)
        if not candidate.sentence.is_item and _PRONOUN_START.match(candidate.sentence.text) and position > 0:
            before = scored[candidate.rank][position - 1]
            if before not in chosen:
                chosen.append(before)
    # The passage holding the best sentence leads; the rest follow in retrieval order, each in reading order.
    chosen.sort(key=lambda c: (c.rank != best.rank, c.rank, c.sentence.start))
    place = passages[best.rank] if _WHERE_COVERED.search(question) else None
    return _compose(question, chosen, passages, retrieved, settings, place=place)


def _whole_lists(chosen: list[_Candidate], scored: list[list[_Candidate]]) -> list[_Candidate]:
    """The lists (at most _LONGEST_LIST items, with their lead-in) of which two or more items are among `chosen`."""
    out: list[_Candidate] = []
    for candidates in scored:
        position = 0
        while position < len(candidates):
            if not candidates[position].sentence.is_item:
                position += 1
                continue
            end = position
            while end < len(candidates) and candidates[end].sentence.is_item:
                end += 1
            items = candidates[position:end]
            if sum(item in chosen for item in items) >= 2 and len(items) <= _LONGEST_LIST:
                lead = candidates[position - 1] if position > 0 else None
                if lead is not None and lead.sentence.text.endswith(":") and lead.code is None:
                    out.append(lead)
                out.extend(items)
            position = end
    return out


def _goes_on(sentence: Sentence, after: Sentence) -> bool:
    """Whether `after`, the next sentence of the same paragraph, continues `sentence` so that it belongs in the quote."""
    if after.is_item or after.text.endswith(":"):
        return False
    if _PRONOUN_START.match(after.text) or (CONNECTIVE_FOLLOWS and _CONNECTIVE_START.match(after.text)):
        return True
    return TOPIC_SENTENCE_FOLLOWS and _is_topic_sentence(sentence)


def _is_topic_sentence(sentence: Sentence) -> bool:
    """A short prose sentence that announces what the next one says ("Feedback loops can also cause harm.")."""
    return not sentence.is_item and not sentence.text.endswith(":") and len(sentence.text.split()) < _TOPIC_SENTENCE_WORDS


def _has_text(hit: RetrievedChunk) -> bool:
    """Whether a passage holds anything but furniture (a section of only a video thumbnail and a quiz link does not)."""
    return bool(without_furniture(hit.chunk.text))


def _quotable_passages(retrieved: list[RetrievedChunk]) -> list[RetrievedChunk]:
    """The ranked passages close enough in meaning to the best one to quote, then the continuations of those."""
    ranked = [hit for hit in retrieved if hit.neighbour_of is None]
    best = max(hit.score for hit in ranked)
    chosen = [hit for i, hit in enumerate(ranked) if i == 0 or hit.score >= best - _PASSAGE_MARGIN]
    ids = {hit.chunk.id for hit in chosen}
    return chosen + [hit for hit in retrieved if hit.neighbour_of in ids]


def _list_after(candidates: list[_Candidate], index: int) -> list[_Candidate]:
    """The list items that directly follow position `index` (-1: the passage's opening items)."""
    items = []
    for following in candidates[index + 1 :]:
        if not following.sentence.is_item:
            break
        items.append(following)
    return items


def _quote_passage(question: str, passage: RetrievedChunk, retrieved: list[RetrievedChunk], settings: Settings) -> Answer:
    """Passages with no prose (only code or a table) are quoted whole: that is the course's answer."""
    citation = Citation.for_chunk(1, passage.chunk, settings.base_url())
    return Answer(question=question, answer=f"{without_furniture(passage.chunk.text)}\n\n[1]", refused=False, citations=[citation], retrieved=retrieved)


def _redundant(candidate: _Candidate, chosen: list[_Candidate]) -> bool:
    words = set(content_words(candidate.sentence.text))
    for other in chosen:
        theirs = set(content_words(other.sentence.text))
        if words and len(words & theirs) / len(words | theirs) > 0.5:
            return True
    return False


def where_covered(chunk: Chunk) -> str:
    """'The lesson "T" covers this, in the section "S".': the place a passage comes from, in words."""
    section = chunk.section.removeprefix(chunk.title).removeprefix(SECTION_SEPARATOR)
    place = f"The lesson \u201c{chunk.title}\u201d covers this"
    return f"{place}, in the section \u201c{section}\u201d." if section else f"{place}."


def _compose(question, chosen, passages, retrieved, settings, place: RetrievedChunk | None = None) -> Answer:
    """The answer text: `place` (named first when given), then the chosen sentences, each with its marker."""
    numbers: dict[int, int] = {}
    citations: list[Citation] = []
    blocks: list[tuple[str, list[str]]] = []  # (kind: "prose", "list" or "code", lines)
    item_of: tuple[int, int] | None = None  # (passage rank, block) of the list item quoted last
    if place is not None:
        rank = passages.index(place)
        numbers[rank] = 1
        citations.append(Citation.for_chunk(1, place.chunk, settings.base_url()))
        blocks.append(("place", [f"{where_covered(place.chunk)} [1]"]))
    for candidate in chosen:
        if candidate.rank not in numbers:
            numbers[candidate.rank] = len(numbers) + 1
            citations.append(Citation.for_chunk(numbers[candidate.rank], passages[candidate.rank].chunk, settings.base_url()))
        n = numbers[candidate.rank]
        kind = "list" if candidate.sentence.is_item else "prose"
        if not blocks or blocks[-1][0] != kind:
            blocks.append((kind, []))
        quoted = f"{candidate.sentence.text} [{n}]"
        if kind == "list" and item_of == (candidate.rank, candidate.sentence.block):
            # A list item of several sentences stays one bullet, as the lesson has it.
            blocks[-1][1][-1] += " " + quoted
        else:
            blocks[-1][1].append(quoted)
        item_of = (candidate.rank, candidate.sentence.block) if kind == "list" else None
        if candidate.code is not None:
            # The code is quoted as the lesson shows it, its marker on the line after the fence.
            blocks.append(("code", [f"{candidate.code}\n[{n}]"]))
            item_of = None
    text = "\n\n".join(
        "\n".join(f"- {line}" for line in lines) if kind == "list" else " ".join(lines) for kind, lines in blocks
    )
    return Answer(question=question, answer=text, refused=False, citations=citations, retrieved=retrieved)
