"""Hybrid retrieval: BM25 and dense MiniLM search fused, a lesson hint, MMR for diversity, and split passages rejoined."""
from __future__ import annotations

import math
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from core.mining import chunk_questions
from core.model import TextEmbedder
from core.postings import Postings, okapi_scores, word_idf
from core.text import content_words
from core.types import Chunk, RetrievedChunk

Fusion = Literal["rrf", "weighted"]
# Reciprocal-rank-fusion constant from Cormack et al. (2009); it damps the weight of the very first ranks.
_RRF_K = 60
# Passages this alike (cosine) are the same text, e.g. a paragraph copied into two lessons.
_NEAR_COPY = 0.95


class VectorSearch(Protocol):
    """The dense half: what IndexReader offers."""

    def search(self, query_embedding: np.ndarray, k: int) -> list[RetrievedChunk]: ...

    def embeddings(self, ids: list[str]) -> dict[str, np.ndarray]: ...


@dataclass
class RetrievalConfig:
    """How the halves are combined; the defaults were chosen on the dev set by `make bench` (README, 'Retrieval')."""

    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"
    fusion: Fusion = "weighted"
    dense_weight: float = 0.7  # weighted fusion: share of the (cosine) dense score; the rest is normalised BM25 (0.8 before the pool)
    candidates: int = 30  # from each half, before fusion
    mmr_lambda: float = 0.75  # 1.0 = pure relevance, lower = more diversity
    # Added to the fused score of the hinted lesson's passages: enough to bring its best passage into the top k
    # for a vague question, too little to outrank a clearly better passage elsewhere (not tuned: no dev-set hints).
    lesson_boost: float = 0.1
    neighbours: bool = True
    # Share of a passage's closest generated question (QuestionIndex: its heading and defined terms as questions) added
    # to its fused score. Dev set, added to the passages MMR chose (reorder only): hit@1 0.769 -> 0.808, MRR 0.839 -> 0.858
    # at 0.2 (0.1: 0.788 / 0.848; 0.3 as 0.2; 0.5: 0.779 / 0.845). Adding the chunks they find as candidates too lost
    # hit@5 (0.952 -> 0.933).
    question_weight: float = 0.2
    # How many of the best fused candidates get that share BEFORE MMR, so a passage ranked just below the top k whose
    # generated question matches can be chosen (0: only the passages MMR chose are reordered). Dev set, with
    # dense_weight 0.7 (0.8 before): hit@5 0.952 -> 0.971, MRR 0.858 -> 0.861, key facts 77.7% -> 78.2%. It changes
    # which passages are ranked, so the refusal evidence is the course's closest passage whatever was ranked
    # (Guide.scope); with that, 97.1% of course questions are answered, as before (README, 'How answers are made').
    question_pool: int = 10


class LexicalIndex:
    """BM25 over one index generation's chunks (lesson title, section path and text), plus word IDF for the answerer.

    Built once per generation, so it follows incremental ingests without per-question rebuilds and can never return
    a chunk the dense index no longer has. It is computed from the generation's word counts (core.postings), which
    ingest stores beside a local generation, so a server does not tokenise every chunk after each publish; without
    them (a Chroma server, or an index built before them) they are counted from the chunks. The BM25 half is a
    sparse matrix of precomputed (chunk, word) scores, so a question costs the postings of its own words, not a
    pass over every chunk."""

    def __init__(self, generation: str, chunks: list[Chunk], postings: Postings | None = None):
        self.generation = generation
        self.chunks = chunks
        self.position = {chunk.id: i for i, chunk in enumerate(chunks)}
        if postings is None or postings.ids.tolist() != [chunk.id for chunk in chunks]:
            postings = Postings.from_chunks(chunks)  # none stored, or not this generation's: count them here
        self.idf = word_idf(postings)
        self.vocabulary: list[str] = postings.vocabulary.tolist()  # sorted (core.postings), for prefix look-ups
        self._columns = {word: i for i, word in enumerate(self.vocabulary)}
        self._scores = okapi_scores(postings) if self._columns else None

    def search(self, question: str, k: int) -> list[tuple[Chunk, float]]:
        terms = content_words(question)
        if self._scores is None or not terms:
            return []
        term_ids = [self._columns[t] for t in terms if t in self._columns]  # a word the course never uses scores nothing
        if not term_ids:
            return []
        scores = np.zeros(len(self.chunks), dtype=np.float64)
        data, indices, indptr = self._scores.data, self._scores.indices, self._scores.indptr
        for term in term_ids:  # a repeated word counts again, as in BM25Okapi
            scores[indices[indptr[term] : indptr[term + 1]]] += data[indptr[term] : indptr[term + 1]]
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

    def embed_missing(self, chunks: Sequence[Chunk]) -> int:
        """Embed the generated questions of the chunks not in the cache yet, in one batch; how many chunks that was."""
        # Two threads may both embed a chunk that neither found; each stores the same vectors, so no lock is needed.
        missing = {chunk.id: chunk_questions(chunk) for chunk in chunks if chunk.id not in self.cache}
        batch = [question for questions in missing.values() for question in questions]
        vectors = self.embedder.encode(batch, batch_size=self.batch_size) if batch else np.zeros((0, 0), dtype=np.float32)
        at = 0
        for chunk_id, questions in missing.items():
            self.cache[chunk_id] = np.asarray(vectors[at : at + len(questions)], dtype=np.float32)
            at += len(questions)
        return len(missing)

    def closest(self, query_vector: np.ndarray, chunks: Sequence[Chunk]) -> dict[str, float]:
        """Per chunk that has generated questions, the cosine of its closest one to the query."""
        self.embed_missing(chunks)
        query = np.asarray(query_vector, dtype=np.float32)
        return {chunk.id: float((self.cache[chunk.id] @ query).max()) for chunk in chunks if len(self.cache[chunk.id])}


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
    dense_hits: list[RetrievedChunk] | None = None,
) -> list[RetrievedChunk]:
    """The `k` best passages for the question, best first, then neighbours of split passages (marked as such).

    With `questions`, the closest generated question of each of the `config.question_pool` best fused candidates adds
    `config.question_weight` times its cosine to its fused score before MMR chooses (with a pool of 0, only the chosen
    passages get it, and are reordered by it). A chosen passage that continues another chosen one is returned as
    that one's continuation, not ranked (`_chosen`). `dense_hits`: `vectors.search(query_vector, config.candidates)`
    when the caller already made it (Guide shares it with the refusal evidence), so it is not searched twice."""
    by_id: dict[str, Chunk] = {}
    dense: dict[str, float] = {}
    if config.mode != "bm25":
        for hit in dense_hits if dense_hits is not None else vectors.search(query_vector, config.candidates):
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
    asking = questions if config.question_weight and config.mode == "hybrid" else None
    if asking is not None and config.question_pool:
        # The best `question_pool` candidates, not only the k MMR would choose, so the generated questions can change
        # which passages are chosen, not just their order.
        pool = order[: max(config.question_pool, k)]
        asked = asking.closest(query_vector, [by_id[key] for key in pool])
        fused.update({key: fused[key] + config.question_weight * max(asked.get(key, 0.0), 0.0) for key in pool})
        order = sorted(fused, key=lambda key: (-fused[key], key))
    top = _chosen(order, fused, stored, k, config, lexical, by_id)
    if asking is not None and not config.question_pool:
        # Generated questions only reorder the chosen passages: the set, and so the refusal evidence, stays the same.
        asked = asking.closest(query_vector, [by_id[key] for key in top])
        fused.update({key: fused[key] + config.question_weight * max(asked.get(key, 0.0), 0.0) for key in top})
        top.sort(key=lambda key: -fused[key])  # stable: ties keep their MMR order
    hits = [RetrievedChunk(by_id[key], score=dense.get(key, 0.0), lexical_score=bm25.get(key, 0.0), rank_score=fused[key]) for key in top]
    if config.neighbours:
        hits += _neighbours(hits, lexical, vectors, query)
    return hits


def _chosen(order: list[str], fused: dict[str, float], stored: dict[str, np.ndarray], k: int, config: RetrievalConfig,
            lexical: LexicalIndex, by_id: dict[str, Chunk]) -> list[str]:
    """The k passages MMR chooses, where a passage that continues another chosen one (the next chunk of a split section)
    is left out for the next choice: it comes back after them as that passage's continuation (`_neighbours`), so
    the answerer reads the two halves as one passage, as when only the first half is ranked."""

    def choose(n: int) -> list[str]:
        return mmr(order, fused, stored, n, config.mmr_lambda) if config.mmr_lambda < 1 else order[:n]

    top = choose(k)
    if not config.neighbours:
        return top
    while True:
        chosen = set(top)
        continuations = {key for key in top if (before := lexical.neighbour(by_id[key], -1)) is not None and before.id in chosen
                         and top.index(before.id) < top.index(key)}
        if len(top) - len(continuations) >= k or len(top) >= len(order):
            return [key for key in top if key not in continuations][:k]
        top = choose(k + len(continuations))


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
