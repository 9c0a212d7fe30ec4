"""Splits document sections into chunks that fit the embedding model's window, measured with the model's own tokenizer."""
from __future__ import annotations

from collections import Counter
from dataclasses import replace

from langchain_text_splitters import RecursiveCharacterTextSplitter

from core.model import TextEmbedder
from core.types import SECTION_SEPARATOR, Chunk
from ingest.loaders import Document

# Paragraphs first, then lines (list items), then sentences, then words: a split lands on the widest boundary that fits.
_SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]
_MIN_BODY_TOKENS = 48
_STUB_TOKENS = 40


class ChunkTooLongError(RuntimeError):
    """A passage that cannot be made to fit the model's window (e.g. a heading longer than the window)."""


class _TokenCounts:
    """The embedder's token counts for one document, each distinct text tokenized once: the fit checks, the splitter
    and the stub merge measure the same pieces again and again (about a third of the calls on the shipped course)."""

    def __init__(self, embedder: TextEmbedder):
        self.embedder = embedder
        self.max_tokens = embedder.max_tokens
        self._counts: dict[str, int] = {}

    def count_tokens(self, text: str) -> int:
        count = self._counts.get(text)
        if count is None:
            count = self._counts[text] = self.embedder.count_tokens(text)
        return count


def _body_tokens(embedder: _TokenCounts):
    """Tokens of a text without the model's [CLS] and [SEP]: what langchain's Hugging Face length function counts."""
    return lambda text: embedder.count_tokens(text) - 2


class TooManyChunksError(RuntimeError):
    """A file that would make more chunks than the per-file limit; found before the slow split where possible."""


def _splitter(embedder: _TokenCounts, size: int, overlap: int) -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        length_function=_body_tokens(embedder),
        chunk_size=size,
        chunk_overlap=min(overlap, size // 4),
        separators=_SEPARATORS,
        keep_separator="end",
    )


def _fit(text: str, heading_chunk: Chunk, embedder: _TokenCounts, size: int, overlap: int) -> list[str]:
    """Split `text` so that every piece, with its heading, is within the model's window; shrink until it is."""
    whole = text.strip()
    if embedder.count_tokens(whole) - 2 <= size and embedder.count_tokens(_with_text(heading_chunk, whole).embed_text()) <= embedder.max_tokens:
        # Most sections fit whole; the splitter would return them unchanged at many times the cost.
        return [whole]
    while size >= _MIN_BODY_TOKENS:
        pieces = [p.strip() for p in _splitter(embedder, size, overlap).split_text(text) if p.strip()]
        too_long = [p for p in pieces if embedder.count_tokens(_with_text(heading_chunk, p).embed_text()) > embedder.max_tokens]
        if not too_long:
            return _merge_small(pieces, heading_chunk, embedder, text)
        size = int(size * 0.8)
    raise ChunkTooLongError(
        f"section '{heading_chunk.section}' cannot fit the model's {embedder.max_tokens}-token window; shorten its heading"
    )


def _merge_small(pieces: list[str], heading_chunk: Chunk, embedder: _TokenCounts, text: str) -> list[str]:
    """Join a stub piece (a list's lead-in line, a last short sentence) to its neighbour when both fit the window,
    and a piece that ends inside a code block to the piece that goes on with it, as one stretch of `text`."""
    merged: list[str] = []
    spans: list[tuple[int, int]] = []  # where each merged piece lies in `text`, while it is a stretch of it
    cursor = 0
    for piece in pieces:
        start = text.find(piece, cursor)
        cursor = max(start + 1, cursor)
        span = (start, start + len(piece))
        if merged:
            begin, end = spans[-1]
            # A cut code block is joined as the lesson has it: the splitter's overlap said once, the cut's blank lines kept.
            cut_code = _opens_code(merged[-1]) and start >= 0 and begin >= 0 and text[begin:end] == merged[-1]
            joined = text[begin : max(end, span[1])] if cut_code else f"{merged[-1]}\n\n{piece}"
            stub = min(embedder.count_tokens(merged[-1]), embedder.count_tokens(piece)) < _STUB_TOKENS
            if (stub or cut_code) and embedder.count_tokens(_with_text(heading_chunk, joined).embed_text()) <= embedder.max_tokens:
                merged[-1] = joined
                stretch = (begin, max(end, span[1]))
                spans[-1] = stretch if begin >= 0 and start >= 0 and text[stretch[0] : stretch[1]] == joined else (-1, -1)
                continue
        merged.append(piece)
        spans.append(span if start >= 0 else (-1, -1))
    return merged


def _opens_code(text: str) -> bool:
    """Whether a piece ends inside a fenced code block: an odd number of fence lines."""
    return sum(1 for line in text.splitlines() if line.lstrip().startswith(("```", "~~~"))) % 2 == 1


def _with_text(chunk: Chunk, text: str) -> Chunk:
    return replace(chunk, text=text)


def _too_many(limit: int) -> TooManyChunksError:
    return TooManyChunksError(
        f"would make more than {limit:,} chunks, the limit for one file (COURSE_GUIDE_MAX_CHUNKS_PER_FILE); "
        "split it into smaller lessons, or raise the limit"
    )


def chunk_document(
    doc: Document, file_sha: str, embedder: TextEmbedder, chunk_tokens: int, overlap_tokens: int, max_chunks: int | None = None
) -> list[Chunk]:
    """Chunks of one document, in reading order, each with its section path, page and a content-derived id.

    With `max_chunks`, TooManyChunksError as soon as the file is sure to exceed it: every word is at least one
    token, so a section of W words makes at least W / budget chunks, known before the (slow) split."""
    counts = _TokenCounts(embedder)
    chunks: list[Chunk] = []
    seen: Counter[tuple[str, str, int | None, str]] = Counter()
    for section in doc.sections:
        path = SECTION_SEPARATOR.join(section.headings)
        template = Chunk("", "", doc.source, doc.title, path, section.anchor, section.page, 0, file_sha, section.label, section.url)
        heading_tokens = counts.count_tokens(template.embed_text())
        budget = min(chunk_tokens, counts.max_tokens - heading_tokens - 4)
        if max_chunks is not None and len(chunks) + len(section.text.split()) // max(budget, _MIN_BODY_TOKENS) > max_chunks:
            raise _too_many(max_chunks)
        for text in _fit(section.text, template, counts, max(budget, _MIN_BODY_TOKENS), overlap_tokens):
            key = (doc.source, path + (f" ({section.label})" if section.label else ""), section.page, text)
            chunk_id = Chunk.make_id(*key, occurrence=seen[key])
            seen[key] += 1
            chunks.append(
                replace(template, id=chunk_id, text=text, ordinal=len(chunks))
            )
        if max_chunks is not None and len(chunks) > max_chunks:
            raise _too_many(max_chunks)
    return chunks
