"""The Guide: everything answering needs (settings, embedder, index, answerer), and open_guide, the one place that builds it."""
from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from app.engine.answerers import Answerer, choose_answerer
from app.engine.llm import LLMClient, llm_enabled
from app.engine.meaning import SentenceMeaning
from app.engine.questions import UnknownLessonError
from app.engine.retrieval import LexicalIndex, QuestionIndex, RetrievalConfig, hybrid_search
from app.engine.scope import ScopeEvidence, scope_evidence
from core.index import IndexReader, open_store
from core.model import TextEmbedder
from core.settings import Settings
from core.store import Manifest
from core.types import RetrievedChunk

T = TypeVar("T")
# Courses of up to this many chunks have all their generated questions embedded when the server starts (Guide.warm):
# about 1.7 questions a chunk, so 20,000 chunks is some 34,000 short texts, a few minutes of one core in the background.
WARM_LIMIT = 20_000


@dataclass
class Guide:
    """Everything answering needs, built once at the entry point and shared by the chat, the CLI and the API."""

    settings: Settings
    embedder: TextEmbedder
    index: IndexReader
    answerer: Answerer
    llm: LLMClient | None = None  # the configured LLM endpoint, also used for quiz items and the eval judge
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    # What is derived from the live generation's chunks (BM25, generated quiz items), by name; dropped when
    # an ingest publishes a new generation. Every replica derives the same from the same index.
    _derived: dict[str, Any] = field(default_factory=dict)
    _derived_generation: str | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock)  # the chat answers in worker threads

    def derived(self, name: str, build: Callable[[], T]) -> T:
        """`build()`'s result for the live generation, built once per generation."""
        manifest = self.index.refresh()
        with self._lock:
            if self._derived_generation != manifest.generation:
                self._derived, self._derived_generation = {}, manifest.generation
            if name not in self._derived:
                self._derived[name] = build()
            return self._derived[name]

    def lexical(self) -> LexicalIndex:
        """BM25 and word IDF over the live generation's chunks, rebuilt only when an ingest published a new one."""
        return self.derived("lexical", self._build_lexical)

    def _build_lexical(self) -> LexicalIndex:
        generation = self.index.refresh().generation
        load = getattr(self.index.store, "load_postings", None)  # a local index stores each generation's word counts
        return LexicalIndex(generation, self.index.chunks(), load(generation) if load else None)

    def question_index(self) -> QuestionIndex:
        """The live generation's generated questions (headings and defined terms as questions), each chunk's embedded
        the first time the chunk is ranked and kept until the next generation."""
        cache: dict[str, Any] = self.derived("generated_question_vectors", dict)
        return QuestionIndex(self.embedder, cache, self.settings.embed_batch_size)

    def warm(self, limit: int = WARM_LIMIT, batch: int = 256) -> int:
        """Fill what answers would otherwise fill one question at a time: the live generation's BM25 and the vectors of
        every chunk's generated questions, in batches. The server runs this in a background thread at start, so the
        first learners' answers do not each wait for their passages' questions to be embedded. Courses of more than
        `limit` chunks are left to fill as they are asked about (embedding all their questions would hold a core for
        minutes). Returns how many chunks' questions were embedded."""
        chunks = self.lexical().chunks
        if len(chunks) > limit or not (self.retrieval.question_weight and self.retrieval.mode == "hybrid"):
            return 0
        questions = self.question_index()
        return sum(questions.embed_missing(chunks[start : start + batch]) for start in range(0, len(chunks), batch))

    def idf(self) -> dict[str, float]:
        return self.lexical().idf

    def sentence_meaning(self) -> SentenceMeaning:
        """Sentence vectors of the live generation's chunks, encoded when first quoted from and kept until the next."""
        cache: dict[str, Any] = self.derived("sentence_vectors", dict)
        return SentenceMeaning(self.embedder, cache, self.settings.embed_batch_size)

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
        vector = self.encode_question(question)
        return self._evidence(question, retrieved, topic, vector, self.index.search(vector, 1))

    def encode_question(self, question: str) -> np.ndarray:
        return np.asarray(self.embedder.encode([question])[0], dtype=np.float32)

    def retrieve(self, question: str, k: int | None = None, lesson: str | None = None) -> list[RetrievedChunk]:
        """The best passages for the question, best first, then the continuations of split ones.

        `lesson` is a source file (see resolve_lesson) whose passages get a small boost."""
        return self._ranked(question, self.encode_question(question), k, lesson, None)

    def retrieve_and_scope(
        self, question: str, lesson: str | None = None, topic: str | None = None
    ) -> tuple[list[RetrievedChunk], ScopeEvidence]:
        """retrieve and scope for one question as an answer needs them: its vector encoded once and its dense search
        made once, the same search giving retrieval its candidates and the refusal its closest passage."""
        vector = self.encode_question(question)
        dense = self.index.search(vector, self.retrieval.candidates)
        retrieved = self._ranked(question, vector, None, lesson, dense)
        return retrieved, self._evidence(question, retrieved, topic, vector, dense)

    def _ranked(
        self, question: str, vector: np.ndarray, k: int | None, lesson: str | None, dense: list[RetrievedChunk] | None
    ) -> list[RetrievedChunk]:
        questions = self.question_index() if self.retrieval.question_weight and self.retrieval.mode == "hybrid" else None
        return hybrid_search(
            question, vector, self.index, self.lexical(), k or self.settings.top_k, self.retrieval, lesson, questions, dense
        )

    def _evidence(
        self, question: str, retrieved: list[RetrievedChunk], topic: str | None, vector: np.ndarray, closest: list[RetrievedChunk]
    ) -> ScopeEvidence:
        # `closest`: the dense search, best first; its first is the course's closest passage, ranked or not.
        return scope_evidence(
            question, topic or question, retrieved, self.lexical(), self.embedder, vector, closest[0].score if closest else -1.0
        )


def open_guide(settings: Settings, embedder: TextEmbedder | None = None, *, require_index: bool = True) -> Guide:
    """The one place a Guide is built, for every command, the server, eval, calibration, the benchmarks and the tests.

    The index is opened from the store the settings name (a folder or a Chroma server). With
    `require_index`, a missing or damaged index raises IndexUnusableError before the slow model load;
    without it (the server), the guide opens anyway and says so on each request until an ingest publishes.
    The answerer is chosen here, once: the LLM one when an endpoint is configured."""
    index = IndexReader(open_store(settings))
    if require_index:
        index.refresh()
    if embedder is None:
        from core.model import embedder_for

        embedder = embedder_for(settings)
    llm = LLMClient(settings) if llm_enabled(settings) else None
    return Guide(settings, embedder, index, choose_answerer(llm), llm)
