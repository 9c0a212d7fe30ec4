"""Hybrid retrieval: BM25 and dense MiniLM search fused, a lesson hint, MMR for diversity, and split passages rejoined."""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import bm25s
import numpy as np

from core.mining import chunk_questions
from core.model import TextEmbedder
from core.text import content_words
from core.types import Chunk, RetrievedChunk

Fusion = Literal["rrf", "weighted"]
# Reciprocal-rank-fusion constant from Cormack et al. (2009); it damps the weight of the very first ranks.
_RRF_K = 60
# Passages this alike (cosine) are the same text, e.g. a paragraph copied into two lessons.
_NEAR_COPY = 0.95
# Okapi BM25 as rank_bm25's BM25Okapi scored it when the fusion weights were tuned: k1, b, and the floor for
# words in over half the chunks (their IDF becomes this share of the mean IDF instead of going negative).
_K1, _B, _IDF_FLOOR = 1.5, 0.75, 0.25


class VectorSearch(Protocol):
    """The dense half: what IndexReader offers."""

    def search(self, query_embedding: np.ndarray, k: int) -> list[RetrievedChunk]: ...

    def embeddings(self, ids: list[str]) -> dict[str, np.ndarray]: ...


@dataclass
class RetrievalConfig:
    """How the halves are combined; the defaults were chosen on the dev set by `make bench` (README, 'Retrieval')."""

    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"
    fusion: Fusion = "weighted"
    dense_weight: float = 0.8  # weighted fusion: share of the (cosine) dense score; the rest is normalised BM25
    candidates: int = 30  # from each half, before fusion
    mmr_lambda: float = 0.75  # 1.0 = pure relevance, lower = more diversity
    # Added to the fused score of the hinted lesson's passages: enough to bring its best passage into the top k
    # for a vague question, too little to outrank a clearly better passage elsewhere (not tuned: no dev-set hints).
    lesson_boost: float = 0.1
    neighbours: bool = True
    # Share of a passage's closest generated question (QuestionIndex: its heading and defined terms as questions) added
    # to its fused score; it only reorders the passages MMR chose. Dev set: hit@1 0.769 -> 0.808, MRR 0.839 -> 0.858 at 0.2
    # (0.1: 0.788 / 0.848; 0.3 as 0.2; 0.5: 0.779 / 0.845). Adding them as candidates too lost hit@5 (0.952 -> 0.933).
    question_weight: float = 0.2


class LexicalIndex:
    """BM25 over one index generation's chunks (lesson title, section path and text), plus word IDF for the answerer.

    Built once per generation from the chunks the index holds, so it follows incremental ingests without
    per-question rebuilds and can never return a chunk the dense index no longer has. The BM25 half is a
    bm25s sparse matrix of precomputed (chunk, word) scores, so a question costs the postings of its own
    words, not a pass over every chunk."""

    def __init__(self, generation: str, chunks: list[Chunk]):
        self.generation = generation
        self.chunks = chunks
        self.position = {chunk.id: i for i, chunk in enumerate(chunks)}
        tokens = [content_words(chunk.embed_text()) for chunk in chunks]
        df = Counter(word for words in tokens for word in set(words))
        self.idf = {w: math.log((1 + len(chunks)) / (1 + n)) + 1.0 for w, n in df.items()}
        self._bm25 = _okapi_index(tokens, df) if df else None

    def search(self, question: str, k: int) -> list[tuple[Chunk, float]]:
        terms = content_words(question)
        if self._bm25 is None or not terms:
            return []
        term_ids = self._bm25.get_tokens_ids(terms)  # a word the course never uses scores nothing
        if not term_ids:
            return []
        scores = self._bm25.get_scores_from_ids(term_ids)
        return [(self.chunks[i], float(scores[i])) for i in _best_first(scores, k) if scores[i] > 0]

    def coverage(self, question: str, chunk: Chunk) -> float:
        """Share of the question's word weight (IDF) that `chunk` contains: the lexical evidence for refusal."""
        terms = set(content_words(question))
        if not terms:
            return 0.0
        present = set(content_words(chunk.embed_text()))
        total = sum(self.idf.get(t, self._unseen_idf) for t in terms)
        return sum(self.idf.get(t, self._unseen_idf) for t in terms & present) / total

    @property
    def _unseen_idf(self) -> float:
        # A word the course never uses weighs as much as the rarest word it does use.
        return math.log(1 + len(self.chunks)) + 1.0

    def neighbour(self, chunk: Chunk, step: int) -> Chunk | None:
        """The chunk `step` places away in the same section, if the section was split there."""
        i = self.position.get(chunk.id)
        if i is None or not 0 <= i + step < len(self.chunks):
            return None
        other = self.chunks[i + step]
        return other if other.source == chunk.source and other.section == chunk.section else None


class QuestionIndex:
    """Questions generated offline for each chunk (core.mining.chunk_questions), embedded as extra vectors that point
    at their chunk: a learner's question worded like a heading or a "What is X?" finds the passage that answers it
    even when the passage's own text is worded otherwise. A chunk's questions are embedded the first time it is
    ranked, in one batch with the other new ones, and kept in `cache` (by chunk id) for the index generation, so no
    answer waits for the whole course's questions."""

    def __init__(self, embedder: TextEmbedder, cache: MutableMapping[str, np.ndarray], batch_size: int = 64):
        self.embedder = embedder
        self.cache = cache
        self.batch_size = batch_size

    def closest(self, query_vector: np.ndarray, chunks: Sequence[Chunk]) -> dict[str, float]:
        """Per chunk that has generated questions, the cosine of its closest one to the query."""
        # Two threads may both embed a chunk that neither found; each stores the same vectors, so no lock is needed.
        missing = {chunk.id: chunk_questions(chunk) for chunk in chunks if chunk.id not in self.cache}
        batch = [question for questions in missing.values() for question in questions]
        vectors = self.embedder.encode(batch, batch_size=self.batch_size) if batch else np.zeros((0, 0), dtype=np.float32)
        at = 0
        for chunk_id, questions in missing.items():
            self.cache[chunk_id] = np.asarray(vectors[at : at + len(questions)], dtype=np.float32)
            at += len(questions)
        query = np.asarray(query_vector, dtype=np.float32)
        return {chunk.id: float((self.cache[chunk.id] @ query).max()) for chunk in chunks if len(self.cache[chunk.id])}


def _okapi_index(tokens: list[list[str]], df: Counter[str]) -> bm25s.BM25:
    """A bm25s index whose scores are exactly rank_bm25's BM25Okapi on the same words.

    bm25s's "atire" term weight is Okapi's tf*(k1+1)/(tf + k1*(1-b+b*len/avglen)); none of its IDFs has
    BM25Okapi's floor, so the index is built with Lucene's IDF (always above 0, so no column is lost) and
    each word's column of the score matrix is then scaled to BM25Okapi's IDF for that word."""
    vocabulary = {word: i for i, word in enumerate(df)}
    index = bm25s.BM25(k1=_K1, b=_B, method="atire", idf_method="lucene", dtype="float64")
    index.index(([[vocabulary[w] for w in words] for words in tokens], vocabulary), create_empty_token=False, show_progress=False)
    n = len(tokens)
    counts = np.array(list(df.values()), dtype=np.float64)  # in vocabulary order
    okapi = np.log(n - counts + 0.5) - np.log(counts + 0.5)
    okapi[okapi < 0] = _IDF_FLOOR * okapi.mean()
    lucene = np.log(1 + (n - counts + 0.5) / (counts + 0.5))
    scores = index.scores  # CSC: word w's postings are data[indptr[w]:indptr[w + 1]]
    scores["data"] = scores["data"] * np.repeat(okapi / lucene, np.diff(scores["indptr"]))
    return index


def _best_first(scores: np.ndarray, k: int) -> np.ndarray:
    """The indices of the `k` highest scores, best first, ties in index order: np.argsort(-scores, kind="stable")[:k]
    without sorting every chunk."""
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")[:k]
    kth = np.partition(scores, len(scores) - k)[len(scores) - k]  # the k-th highest score
    tied_or_better = np.flatnonzero(scores >= kth)  # in index order
    return tied_or_better[np.argsort(-scores[tied_or_better], kind="stable")][:k]


def _normalise(values: dict[str, float]) -> dict[str, float]:
    top = max(values.values(), default=0.0)
    return {k: v / top for k, v in values.items()} if top > 0 else {k: 0.0 for k in values}


def fuse(dense: dict[str, float], lexical: dict[str, float], config: RetrievalConfig) -> dict[str, float]:
    """One score per candidate id from the dense cosine scores and the raw BM25 scores."""
    ids = set(dense) | set(lexical)
    if config.fusion == "rrf":
        fused = dict.fromkeys(ids, 0.0)
        for scores in (dense, lexical):
            for rank, key in enumerate(sorted(scores, key=lambda k: -scores[k])):
                fused[key] += 1.0 / (_RRF_K + rank + 1)
        return fused
    bm25 = _normalise(lexical)
    return {k: config.dense_weight * dense.get(k, 0.0) + (1 - config.dense_weight) * bm25.get(k, 0.0) for k in ids}


def mmr(order: list[str], relevance: dict[str, float], vectors: dict[str, np.ndarray], k: int, lam: float) -> list[str]:
    """Maximal marginal relevance: the top `k` ids, each chosen for relevance minus its likeness to those already chosen."""
    rel = _normalise({key: relevance[key] - min(relevance.values()) for key in order}) if order else {}
    chosen: list[str] = []
    copies: list[str] = []
    remaining = list(order)

    def likeness(key: str) -> float:
        return max((float(vectors[key] @ vectors[c]) for c in chosen if key in vectors and c in vectors), default=0.0)

    while remaining and len(chosen) < k:
        best = max(remaining, key=lambda key: lam * rel[key] - (1 - lam) * likeness(key))  # ties: the fused order
        remaining.remove(best)
        if likeness(best) >= _NEAR_COPY:
            copies.append(best)  # the same text in two lessons: used only if nothing else is left
            continue
        chosen.append(best)
    return chosen + copies[: k - len(chosen)]


def hybrid_search(
    question: str,
    query_vector: np.ndarray,
    vectors: VectorSearch,
    lexical: LexicalIndex,
    k: int,
    config: RetrievalConfig,
    lesson: str | None = None,
    questions: QuestionIndex | None = None,
) -> list[RetrievedChunk]:
    """The `k` best passages for the question, best first, then neighbours of split passages (marked as such).

    With `questions`, each chosen passage's closest generated question adds `config.question_weight` times its cosine
    to its fused score, and the chosen passages are put in that order."""
    by_id: dict[str, Chunk] = {}
    dense: dict[str, float] = {}
    if config.mode != "bm25":
        for hit in vectors.search(query_vector, config.candidates):
            by_id[hit.chunk.id] = hit.chunk
            dense[hit.chunk.id] = hit.score
    bm25: dict[str, float] = {}
    if config.mode != "dense":
        for chunk, score in lexical.search(question, config.candidates):
            by_id.setdefault(chunk.id, chunk)
            bm25[chunk.id] = score
    if not by_id:
        return []
    stored = vectors.embeddings(list(by_id))
    query = np.asarray(query_vector, dtype=np.float32)
    # Exact cosine for every candidate, including the ones only BM25 found (vectors are unit length).
    dense = {key: float(stored[key] @ query) for key in by_id if key in stored}
    if config.mode == "dense":
        fused = dict(dense)
    elif config.mode == "bm25":
        fused = dict(bm25)
    else:
        fused = fuse(dense, bm25, config)
    if lesson:
        boost = config.lesson_boost if config.fusion == "weighted" or config.mode != "hybrid" else config.lesson_boost / 10
        fused = {key: score + (boost if by_id[key].source == lesson else 0.0) for key, score in fused.items()}
    order = sorted(fused, key=lambda key: (-fused[key], key))
    top = mmr(order, fused, stored, k, config.mmr_lambda) if config.mmr_lambda < 1 else order[:k]
    if questions is not None and config.question_weight and config.mode == "hybrid":
        # Generated questions only reorder the chosen passages: the set, and so the refusal evidence, stays the same.
        asked = questions.closest(query_vector, [by_id[key] for key in top])
        fused.update({key: fused[key] + config.question_weight * max(asked.get(key, 0.0), 0.0) for key in top})
        top.sort(key=lambda key: -fused[key])  # stable: ties keep their MMR order
    hits = [RetrievedChunk(by_id[key], score=dense.get(key, 0.0), lexical_score=bm25.get(key, 0.0), rank_score=fused[key]) for key in top]
    if config.neighbours:
        hits += _neighbours(hits, lexical, vectors, query)
    return hits


def _neighbours(hits: list[RetrievedChunk], lexical: LexicalIndex, vectors: VectorSearch, query: np.ndarray) -> list[RetrievedChunk]:
    """The next passage of each hit's section, where the section was split after it (a list or paragraph may go on)."""
    have = {hit.chunk.id for hit in hits}
    extra: list[tuple[Chunk, str]] = []  # (neighbour, id of the hit it continues)
    for hit in hits:
        following = lexical.neighbour(hit.chunk, +1)
        if following is not None and following.id not in have:
            have.add(following.id)
            extra.append((following, hit.chunk.id))
    stored = vectors.embeddings([chunk.id for chunk, _ in extra]) if extra else {}
    return [
        RetrievedChunk(chunk, score=float(stored[chunk.id] @ query) if chunk.id in stored else 0.0, neighbour_of=origin)
        for chunk, origin in extra
    ]
