"""The one answer function behind the chat and the CLI: retrieve passages, refuse what the course does not cover, else answer from course sentences with citations."""
from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core.index import IndexReader, Manifest
from core.model import TextEmbedder
from core.settings import Settings
from core.text import Sentence, content_words, split_sentences
from core.types import Answer, Citation, RetrievedChunk

_DEFINITION_QUESTION = re.compile(r"^\s*(?:what\s+(?:is|are|does)|define|meaning of|what's)\s+(?:an?\s+|the\s+)?(.+?)\s*(?:mean)?\??\s*$", re.I)
_TERM_ITEM = re.compile(r"^\*\*(.+?)\*\*\s*:")
_PRONOUN_START = re.compile(r"^(?:it|this|these|they|that|those|such|its|their)\b", re.I)
# Passages scoring this far below the best one are not quoted: they are usually off-topic neighbours.
_PASSAGE_MARGIN = 0.12


REFUSAL_MESSAGE = "The course materials don't cover that question, so I can't answer it from the course."


# Chat history travels with each request (OpenAI-style messages), so no server keeps conversation state.
Message = dict[str, str]
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
    _idf: dict[str, float] = field(default_factory=dict)
    _idf_generation: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)  # the chat answers in worker threads

    @classmethod
    def open(cls, settings: Settings, embedder: TextEmbedder) -> Guide:
        return cls(settings, embedder, IndexReader(settings.db_dir))

    def idf(self) -> dict[str, float]:
        """Inverse document frequency of each word over the course's chunks, rebuilt per index generation."""
        manifest = self.index.refresh()
        with self._lock:
            if manifest.generation != self._idf_generation:
                chunks = self.index.chunks()
                df = Counter(word for chunk in chunks for word in set(content_words(chunk.text)))
                self._idf = {w: math.log((1 + len(chunks)) / (1 + n)) + 1.0 for w, n in df.items()}
                self._idf_generation = manifest.generation
            return self._idf

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

    def retrieve(self, question: str, k: int | None = None) -> list[RetrievedChunk]:
        vector = self.embedder.encode([question])[0]
        return self.index.search(vector, k or self.settings.top_k)


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


def stream_answer(
    guide: Guide, question: str, history: list[Message] | None = None, lesson: str | None = None
) -> Iterator[str | Answer]:
    """The answer as it is produced: text pieces to show as they come, then the finished Answer.

    The finished Answer is authoritative: it may differ from the joined pieces when a generated answer's
    citations were checked afterwards, so a front end replaces what it streamed with it."""
    answer = answer_question(guide, question, history=history, lesson=lesson)
    words = answer.answer.split(" ")
    for start in range(0, len(words), 6):
        yield (" " if start else "") + " ".join(words[start : start + 6])
    yield answer


def answer_question(
    guide: Guide, question: str, history: list[Message] | None = None, lesson: str | None = None
) -> Answer:
    """Answer one question from the course, citing every sentence, or say plainly that the course does not cover it.

    `history` is the conversation so far (for follow-ups); `lesson` names the lesson the learner is on."""
    started = time.perf_counter()
    question = check_question(question, guide.settings)
    history = check_history(history)
    guide.resolve_lesson(lesson)
    retrieved = guide.retrieve(question)
    retrieved_at = time.perf_counter()
    if not retrieved or retrieved[0].score < guide.settings.refusal_threshold:
        answer = refusal(question, retrieved)
    else:
        answer = extractive_answer(question, retrieved, guide.idf(), guide.settings)
    done = time.perf_counter()
    answer.timings_ms = {
        "retrieve": (retrieved_at - started) * 1000,
        "answer": (done - retrieved_at) * 1000,
        "total": (done - started) * 1000,
    }
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
    match = _DEFINITION_QUESTION.match(question)
    return content_words(match.group(1)) if match else []


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
    passages = [hit for hit in retrieved if hit.score >= retrieved[0].score - _PASSAGE_MARGIN]
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
        limit = max(limit, 7)
        for following in same_passage[index_in_passage + 1 :]:
            if not following.sentence.is_item:
                break
            if all(c.sentence.block != following.sentence.block for c in chosen):
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
