"""Word counts of one index generation's chunks, made at ingest and stored in the generation's folder, so BM25 for
a generation is computed from them in numpy instead of by tokenising every chunk again in each serving process."""
from __future__ import annotations

import logging
import math
import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from core.text import content_words
from core.types import Chunk

log = logging.getLogger("course_guide")

POSTINGS_FILE = "postings.npz"  # in the generation folder, beside Chroma's files
# Bump when what is counted changes (content_words, embed_text); a file of another version is not used.
POSTINGS_VERSION = 1


@dataclass(frozen=True)
class Postings:
    """Rows are chunks in corpus order (source, then ordinal), columns are words in sorted order; each cell is how many
    times the word is in the chunk's embedded text (lesson title, section path and passage), as content_words splits it."""

    ids: np.ndarray  # str, one per row
    sources: np.ndarray  # str, one per row
    ordinals: np.ndarray  # int64, one per row
    vocabulary: np.ndarray  # str, one per column, sorted; every word is in at least one row
    counts: sparse.csr_matrix  # int32

    @classmethod
    def from_chunks(cls, chunks: Iterable[Chunk]) -> Postings:
        rows = sorted(chunks, key=lambda c: (c.source, c.ordinal))
        per_row = [Counter(content_words(chunk.embed_text())) for chunk in rows]
        vocabulary = np.array(sorted({word for counted in per_row for word in counted}), dtype=str)
        column = {word: i for i, word in enumerate(vocabulary.tolist())}
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(counted) for counted in per_row])
        indices = np.fromiter((column[word] for counted in per_row for word in counted), dtype=np.int32, count=int(indptr[-1]))
        data = np.fromiter((n for counted in per_row for n in counted.values()), dtype=np.int32, count=int(indptr[-1]))
        counts = sparse.csr_matrix((data, indices, indptr), shape=(len(rows), len(vocabulary)))
        counts.sort_indices()  # one layout for the same counts, however they were made
        return cls(
            np.array([c.id for c in rows], dtype=str), np.array([c.source for c in rows], dtype=str),
            np.array([c.ordinal for c in rows], dtype=np.int64), vocabulary, counts,
        )

    def replacing(self, sources: Iterable[str], chunks: list[Chunk]) -> Postings:
        """These postings with every row of `sources` dropped and `chunks` (their new chunks) added: what from_chunks
        makes from the next generation's chunks, without tokenising the unchanged ones."""
        keep = np.flatnonzero(~np.isin(self.sources, np.array(sorted(set(sources)), dtype=str)))
        fresh = Postings.from_chunks(chunks)
        vocabulary = np.union1d(self.vocabulary[np.unique(self.counts[keep].indices)], fresh.vocabulary)
        old = self._with_columns(keep, vocabulary)
        new = fresh._with_columns(np.arange(len(fresh.ids)), vocabulary)
        counts = sparse.vstack([old, new], format="csr", dtype=np.int32)
        ids = np.concatenate([self.ids[keep], fresh.ids])
        sources_ = np.concatenate([self.sources[keep], fresh.sources])
        ordinals = np.concatenate([self.ordinals[keep], fresh.ordinals])
        order = np.lexsort((ordinals, sources_))  # corpus order: by source, then ordinal
        counts = counts[order]
        counts.sort_indices()
        return Postings(ids[order], sources_[order], ordinals[order], vocabulary, counts)

    def _with_columns(self, rows: np.ndarray, vocabulary: np.ndarray) -> sparse.csr_matrix:
        """`rows` of the counts with their columns renumbered into `vocabulary` (which holds every word they use)."""
        part = self.counts[rows]
        renumbered = np.searchsorted(vocabulary, self.vocabulary)[part.indices].astype(np.int32)
        return sparse.csr_matrix((part.data, renumbered, part.indptr), shape=(len(rows), len(vocabulary)))

    def save(self, folder: Path) -> None:
        """Write the postings into `folder` (a generation that is not live yet, so no reader sees a half-written file)."""
        with open(Path(folder) / POSTINGS_FILE, "wb") as out:
            np.savez(
                out, version=np.array(POSTINGS_VERSION), ids=self.ids, sources=self.sources, ordinals=self.ordinals,
                vocabulary=self.vocabulary, data=self.counts.data, indices=self.counts.indices, indptr=self.counts.indptr,
            )

    @classmethod
    def load(cls, folder: Path) -> Postings | None:
        """The postings stored in `folder`, or None if there are none of this version (an index built before them)."""
        path = Path(folder) / POSTINGS_FILE
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as stored:
                if int(stored["version"]) != POSTINGS_VERSION:
                    return None
                ids, vocabulary = stored["ids"], stored["vocabulary"]
                counts = sparse.csr_matrix((stored["data"], stored["indices"], stored["indptr"]), shape=(len(ids), len(vocabulary)))
                return cls(ids, stored["sources"], stored["ordinals"], vocabulary, counts)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            # Only a speed-up: the chunks are counted again instead, and the next ingest writes a good file.
            log.warning("Ignoring the damaged word counts %s (%s: %s); counting them from the chunks instead.", path, type(err).__name__, err)
            return None


# Okapi BM25 as rank_bm25's BM25Okapi scored it when the fusion weights were tuned: k1, b, and the floor for
# words in over half the chunks (their IDF becomes this share of the mean IDF instead of going negative).
K1, B, IDF_FLOOR = 1.5, 0.75, 0.25


def okapi_scores(postings: Postings) -> sparse.csc_matrix:
    """The BM25Okapi score of every (chunk, word) pair that occurs, as a CSC matrix (word w's postings are
    data[indptr[w]:indptr[w + 1]]), so a question costs the postings of its own words.

    The arithmetic is the one bm25s's "atire" index did, step by step (its term weight, Lucene's IDF, then each
    word's column scaled to BM25Okapi's IDF), so the scores, and so the rankings, are the ones tuned on."""
    counts = postings.counts
    n = counts.shape[0]
    lengths = np.asarray(counts.sum(axis=1)).ravel()
    average = lengths.mean()
    tf = counts.data.astype(np.float64)
    row_length = np.repeat(lengths, np.diff(counts.indptr))
    weight = (tf * (K1 + 1)) / (tf + K1 * (1 - B + B * row_length / average))
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    lucene_exact = np.array([math.log(1 + (n - d + 0.5) / (d + 0.5)) for d in df.tolist()], dtype=np.float64)
    scored = sparse.csr_matrix((lucene_exact[counts.indices] * weight, counts.indices, counts.indptr), shape=counts.shape).tocsc()
    frequency = df.astype(np.float64)
    okapi = np.log(n - frequency + 0.5) - np.log(frequency + 0.5)
    okapi[okapi < 0] = IDF_FLOOR * okapi.mean()
    lucene = np.log(1 + (n - frequency + 0.5) / (frequency + 0.5))
    scored.data = scored.data * np.repeat(okapi / lucene, np.diff(scored.indptr))
    return scored


def word_idf(postings: Postings) -> dict[str, float]:
    """Each word's smoothed IDF, log((1 + N) / (1 + df)) + 1: the weight the answerer and the refusal give a word."""
    n = postings.counts.shape[0]
    df = np.bincount(postings.counts.indices, minlength=postings.counts.shape[1]).tolist()
    return {word: math.log((1 + n) / (1 + d)) + 1.0 for word, d in zip(postings.vocabulary.tolist(), df)}
