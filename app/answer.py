"""The one answer function behind the chat and the CLI: retrieve passages, refuse what the course does not cover, else answer from course sentences with citations."""
from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from app.conversation import Message, condense, current_topic, definition_target, is_follow_up
from app.generate import check_citations, condense_with_llm, stream_generated
from app.llm import LLMError, llm_enabled
from app.retrieval import LexicalIndex, RetrievalConfig, hybrid_search
from app.scope import ScopeEvidence, covered_by_settings, scope_evidence
from core.index import IndexReader, Manifest, open_store
from core.model import TextEmbedder
from core.settings import Settings
from core.text import Sentence, content_words, split_sentences
from core.types import Answer, Citation, RetrievedChunk

_TERM_ITEM = re.compile(r"^\*\*(.+?)\*\*\s*:")
_PRONOUN_START = re.compile(r"^(?:it|this|these|they|that|those|such|its|their)\b", re.I)
# Words per streamed piece of an offline answer: reads as typing without flooding the connection.
_STREAM_WORDS = 6
_LONGEST_LIST = 9  # items quoted after a list lead-in
log = logging.getLogger("course_guide")
# Passages scoring this far below the best one are not quoted: they are usually off-topic neighbours.
_PASSAGE_MARGIN = 0.12


REFUSAL_MESSAGE = "The course materials don't cover that question, so I can't answer it from the course."


MAX_HISTORY_MESSAGES = 40


class QuestionError(ValueError):
    """A question we will not send to retrieval; the message is for the learner."""


class UnknownLessonError(QuestionError):
    """A lesson hint that names no lesson in the index."""


@dataclass
class Guide:
    """Everything answering needs, built once at the entry point and shared by the chat, the CLI and the API."""

    settings: Settings
    embedder: TextEmbedder
    index: IndexReader
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    _lexical: LexicalIndex | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)  # the chat answers in worker threads

    @classmethod
    def open(cls, settings: Settings, embedder: TextEmbedder) -> Guide:
        return cls(settings, embedder, IndexReader(open_store(settings)))

    def lexical(self) -> LexicalIndex:
        """BM25 and word IDF over the live generation's chunks, rebuilt only when an ingest published a new one."""
        manifest = self.index.refresh()
        with self._lock:
            if self._lexical is None or self._lexical.generation != manifest.generation:
                self._lexical = LexicalIndex(manifest.generation, self.index.chunks())
            return self._lexical

    def idf(self) -> dict[str, float]:
        return self.lexical().idf

    def corpus_dir(self, manifest: Manifest | None) -> Path:
        """The course folder that lesson links open: as configured, else the one `manifest`'s index was built from."""
        if "corpus_dir" in self.settings.model_fields_set or manifest is None:
            return Path(self.settings.corpus_dir)
        return Path(manifest.corpus_dir)

    def resolve_lesson(self, lesson: str | None) -> str | None:
        """The indexed source file a lesson hint names, or None for no hint; UnknownLessonError if none matches.

        A hint may be the file ("09-model-monitoring.md"), its stem, or its stem without the number
        ("model-monitoring"), so a course page can say which lesson it is in its own words."""
        if lesson is None or not lesson.strip():
            return None
        wanted = lesson.strip().strip("/").lower()
        sources = sorted(self.index.refresh().files)
        for source in sources:
            stem = Path(source).with_suffix("").as_posix().lower()
            if wanted in (source.lower(), stem, re.sub(r"^\d+[-_ ]*", "", stem)):
                return source
        raise UnknownLessonError(f"There is no lesson called {lesson!r} in this course. Use a lesson file name such as {sources[0]!r}." if sources else f"There is no lesson called {lesson!r}: the course index is empty.")

    def scope(self, question: str, retrieved: list[RetrievedChunk], topic: str | None = None) -> ScopeEvidence:
        """What retrieval says about whether the course covers `question` (`topic`: a follow-up's topic)."""
        return scope_evidence(question, topic or question, retrieved, self.lexical())

    def retrieve(self, question: str, k: int | None = None, lesson: str | None = None) -> list[RetrievedChunk]:
        """The best passages for the question, best first, then the continuations of split ones.

        `lesson` is a source file (see resolve_lesson) whose passages get a small boost."""
        vector = self.embedder.encode([question])[0]
        return hybrid_search(question, vector, self.index, self.lexical(), k or self.settings.top_k, self.retrieval, lesson)


def check_question(question: str, settings: Settings) -> str:
    """The cleaned question, or QuestionError with a friendly message."""
    text = (question or "").strip()
    if not text:
        raise QuestionError("Please type a question about the course, for example: What is MLOps?")
    if len(text) > settings.max_question_chars:
        raise QuestionError(
            f"That question is {len(text)} characters long; please keep it under {settings.max_question_chars} "
            "characters and ask one thing at a time."
        )
    if not re.search(r"[^\W_]", text):
        raise QuestionError("Please ask your question in words, for example: How is data drift detected?")
    return text


def check_history(history: list[Message] | None) -> list[Message]:
    """The chat history as a list of {role, content} messages, or QuestionError saying what is wrong with it."""
    if history is None:
        return []
    if not isinstance(history, list):
        raise QuestionError("The history must be a list of messages like {\"role\": \"user\", \"content\": \"...\"}.")
    cleaned: list[Message] = []
    for number, message in enumerate(history, start=1):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant") or not isinstance(message.get("content"), str):
            raise QuestionError(
                f"History message {number} is not a {{\"role\": \"user\"|\"assistant\", \"content\": \"text\"}} object; fix or drop it."
            )
        cleaned.append({"role": message["role"], "content": message["content"]})
    # Only the recent turns can matter for resolving a follow-up; older ones would only slow answering down.
    return cleaned[-MAX_HISTORY_MESSAGES:]


@dataclass
class PreparedQuestion:
    """A question made ready to answer: checked, made to stand alone, and its passages retrieved."""

    asked: str
    standalone: str
    history: list[Message]
    retrieved: list[RetrievedChunk]
    evidence: ScopeEvidence
    in_scope: bool
    started: float
    retrieved_at: float


def prepare_question(guide: Guide, question: str, history: list[Message] | None = None, lesson: str | None = None) -> PreparedQuestion:
    """Check the question, make it stand alone, retrieve its passages and decide whether the course covers it."""
    started = time.perf_counter()
    asked = check_question(question, guide.settings)
    history = check_history(history)
    lesson_source = guide.resolve_lesson(lesson)
    standalone = condense(asked, history)
    follow_up = is_follow_up(asked, history)
    if llm_enabled(guide.settings) and follow_up:
        try:
            standalone = condense_with_llm(guide.settings, asked, history)
        except (LLMError, ValueError) as err:
            log.warning("follow-up rewrite by the LLM failed, using the offline one: %s", err)
    retrieved = guide.retrieve(standalone, lesson=lesson_source)
    evidence = guide.scope(standalone, retrieved, topic=current_topic(history) if follow_up else None)
    in_scope = covered_by_settings(evidence, guide.settings)
    return PreparedQuestion(asked, standalone, history, retrieved, evidence, in_scope, started, time.perf_counter())


def stream_answer(
    guide: Guide, question: str, history: list[Message] | None = None, lesson: str | None = None
) -> Iterator[str | Answer]:
    """The answer as it is produced: text pieces to show as they come, then the finished Answer.

    The finished Answer is authoritative: it may differ from the joined pieces when a generated answer's
    citations were checked afterwards, so a front end replaces what it streamed with it.
    Out-of-scope questions are refused before any LLM is called."""
    q = prepare_question(guide, question, history, lesson)
    if not q.in_scope:
        answer = refusal(q.asked, q.retrieved)
    elif llm_enabled(guide.settings):
        answer = yield from _generated_answer(guide, q)
    else:
        answer = extractive_answer(q.standalone, q.retrieved, guide.idf(), guide.settings)
    if answer.answerer == "extractive":
        words = answer.answer.split(" ")
        for start in range(0, len(words), _STREAM_WORDS):
            yield (" " if start else "") + " ".join(words[start : start + _STREAM_WORDS])
    answer.question = q.asked
    answer.standalone_question = q.standalone
    answer.scope = q.evidence.to_dict()
    done = time.perf_counter()
    answer.timings_ms = {
        "retrieve": (q.retrieved_at - q.started) * 1000,
        "answer": (done - q.retrieved_at) * 1000,
        "total": (done - q.started) * 1000,
    }
    yield answer


def answer_question(
    guide: Guide, question: str, history: list[Message] | None = None, lesson: str | None = None
) -> Answer:
    """Answer one question from the course, citing every sentence, or say plainly that the course does not cover it.

    `history` is the conversation so far (for follow-ups); `lesson` names the lesson the learner is on."""
    *_, answer = stream_answer(guide, question, history, lesson)
    return answer


def _generated_answer(guide: Guide, q: PreparedQuestion) -> Iterator[str]:
    """Stream the LLM's answer, then check its citations; any endpoint failure gives the offline answer and a notice."""
    passages = [hit for hit in q.retrieved if hit.neighbour_of is None]
    pieces: list[str] = []
    try:
        for piece in stream_generated(guide.settings, q.standalone, q.history, passages):
            pieces.append(piece)
            yield piece
    except LLMError as err:
        log.warning("%s", err)
        return _offline_instead(guide, q, "The AI answerer is unavailable right now, so this answer quotes the course directly.")
    checked = check_citations("".join(pieces), passages, guide.embedder, guide.settings.base_url())
    if checked.text.startswith(REFUSAL_MESSAGE.split(",")[0]) and not checked.citations:
        return refusal(q.asked, q.retrieved)
    if checked.supported_count == 0:
        return _offline_instead(guide, q, "The AI answer could not be checked against the course, so this answer quotes the course directly.")
    return Answer(
        question=q.asked, answer=checked.text, refused=False, citations=checked.citations, retrieved=q.retrieved,
        answerer="llm", unsupported_sentences=checked.unsupported,
    )


def _offline_instead(guide: Guide, q: PreparedQuestion, notice: str) -> Answer:
    answer = extractive_answer(q.standalone, q.retrieved, guide.idf(), guide.settings)
    answer.notice = notice
    return answer


def closest_topics(retrieved: list[RetrievedChunk], limit: int = 3) -> list[RetrievedChunk]:
    """The best passage of each of the nearest distinct sections."""
    seen: set[str] = set()
    topics: list[RetrievedChunk] = []
    for hit in retrieved:
        label = hit.chunk.location()
        if label not in seen:
            seen.add(label)
            topics.append(hit)
        if len(topics) == limit:
            break
    return topics


def refusal(question: str, retrieved: list[RetrievedChunk]) -> Answer:
    topics = closest_topics(retrieved)
    text = REFUSAL_MESSAGE
    if topics:
        names = "; ".join(hit.chunk.location() for hit in topics)
        text += f" The closest topics the course does cover are: {names}."
    return Answer(question=question, answer=text, refused=True, citations=[], retrieved=retrieved)


@dataclass(frozen=True)
class _Candidate:
    rank: int  # rank of its passage
    sentence: Sentence
    score: float


def _definition_target(question: str) -> list[str]:
    return content_words(definition_target(question) or "")


def _score_sentences(question: str, passages: list[RetrievedChunk], idf: dict[str, float]) -> list[list[_Candidate]]:
    terms = set(content_words(question))
    weight = sum(idf.get(t, 1.0) for t in terms) or 1.0
    target = _definition_target(question)
    best_passage = passages[0].score
    scored: list[list[_Candidate]] = []
    for rank, hit in enumerate(passages):
        heading_words = set(content_words(hit.chunk.section.split(" > ")[-1]))
        candidates = []
        sentences = split_sentences(hit.chunk.text)
        for position, sentence in enumerate(sentences):
            words = content_words(sentence.text)
            overlap = sum(idf.get(t, 1.0) for t in terms & set(words)) / weight
            score = 0.45 * overlap + 0.55 * (hit.score / best_passage)
            if target and _defines(sentence.text, target):
                score += 0.25
            if position == 0 and terms & heading_words:
                score += 0.05
            if len(words) < 4:
                score -= 0.2
            leads_into_list = position + 1 < len(sentences) and sentences[position + 1].is_item
            if sentence.text.endswith(":") and not leads_into_list:
                score -= 0.3  # a lead-in to code or a figure says nothing by itself
            candidates.append(_Candidate(rank, sentence, score))
        scored.append(candidates)
    return scored


def _defines(sentence: str, target: list[str]) -> bool:
    """'X is ...', 'X, short for ..., is ...' or '**X**: ...': the sentence opens with the asked-for term and says what it is."""
    term = _TERM_ITEM.match(sentence)
    if term:
        return all(t in content_words(term.group(1)) for t in target)
    opening = sentence.lower().split()[: len(target) + 10]
    opening_words = content_words(" ".join(opening))
    return all(t in opening_words for t in target) and any(w in ("is", "are", "refers", "means") for w in opening)


def extractive_answer(question: str, retrieved: list[RetrievedChunk], idf: dict[str, float], settings: Settings) -> Answer:
    """Pick the course sentences that best answer the question and cite each one; nothing is reworded."""
    passages = _quotable_passages(retrieved)
    scored = _score_sentences(question, passages, idf)
    flat = sorted((c for cands in scored for c in cands), key=lambda c: -c.score)
    if not flat:
        return _quote_passage(question, passages[0], retrieved, settings)
    best = flat[0]
    chosen: list[_Candidate] = [best]
    limit = settings.max_answer_sentences

    def take(candidate: _Candidate) -> None:
        if candidate not in chosen and len(chosen) < limit:
            chosen.append(candidate)

    same_passage = scored[best.rank]
    index_in_passage = same_passage.index(best)
    if best.sentence.text.rstrip().endswith(":"):
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
    else:
        if _PRONOUN_START.match(best.sentence.text) and index_in_passage > 0:
            take(same_passage[index_in_passage - 1])
        for candidate in flat[1:]:
            if candidate.score < 0.8 * best.score or len(chosen) >= limit:
                break
            if not candidate.sentence.text.endswith(":") and not _redundant(candidate, chosen):
                take(candidate)
    # The passage holding the best sentence leads; the rest follow in retrieval order, each in reading order.
    chosen.sort(key=lambda c: (c.rank != best.rank, c.rank, c.sentence.start))
    return _compose(question, chosen, passages, retrieved, settings)


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
    return Answer(question=question, answer=f"{passage.chunk.text}\n\n[1]", refused=False, citations=[citation], retrieved=retrieved)


def _redundant(candidate: _Candidate, chosen: list[_Candidate]) -> bool:
    words = set(content_words(candidate.sentence.text))
    for other in chosen:
        theirs = set(content_words(other.sentence.text))
        if words and len(words & theirs) / len(words | theirs) > 0.5:
            return True
    return False


def _compose(question, chosen, passages, retrieved, settings) -> Answer:
    numbers: dict[int, int] = {}
    citations: list[Citation] = []
    blocks: list[tuple[bool, list[str]]] = []  # (is a list, lines)
    for candidate in chosen:
        if candidate.rank not in numbers:
            numbers[candidate.rank] = len(numbers) + 1
            citations.append(Citation.for_chunk(numbers[candidate.rank], passages[candidate.rank].chunk, settings.base_url()))
        line = f"{candidate.sentence.text} [{numbers[candidate.rank]}]"
        if not blocks or blocks[-1][0] != candidate.sentence.is_item:
            blocks.append((candidate.sentence.is_item, []))
        blocks[-1][1].append(line)
    text = "\n\n".join("\n".join(f"- {l}" for l in lines) if is_list else " ".join(lines) for is_list, lines in blocks)
    return Answer(question=question, answer=text, refused=False, citations=citations, retrieved=retrieved)
