"""The core types every part of Course Guide passes around: Chunk, RetrievedChunk, Citation, Answer."""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

from core.text import neutralise_html

SECTION_SEPARATOR = " > "


@dataclass(frozen=True)
class Chunk:
    """A passage of one course document, sized to fit the embedding model's window."""

    id: str
    text: str
    source: str  # path relative to the corpus folder, with forward slashes
    title: str  # lesson title
    section: str  # section path, headings joined by SECTION_SEPARATOR
    anchor: str | None  # HTML id of the section heading in the lesson view
    page: int | None  # 1-based PDF page, None for other formats
    ordinal: int  # position of the chunk within its document, from 0
    file_sha: str  # sha256 of the source file's bytes when the chunk was made
    label: str | None = None  # where in the lesson, for formats without headings or pages: "cell 3", "slide 7", "at 12:34"
    url: str | None = None  # an absolute link that opens the passage outside the guide (a lecture video at its time)

    @staticmethod
    def make_id(source: str, section: str, page: int | None, text: str, occurrence: int = 0) -> str:
        """A stable id from the content, so unchanged passages keep their id (and their embedding)."""
        key = "\x1f".join([source, section, str(page or ""), text, str(occurrence)])
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]

    def embed_text(self) -> str:
        """What the model embeds: the passage with its lesson and section, so short passages keep context."""
        heading = self.section if self.section.startswith(self.title) else f"{self.title}{SECTION_SEPARATOR}{self.section}"
        return f"{heading.strip()}\n{self.text}" if heading.strip() else self.text

    def metadata(self) -> dict[str, Any]:
        """Chroma metadata (Chroma stores no None, so optional fields are left out)."""
        meta: dict[str, Any] = {
            "source": self.source,
            "title": self.title,
            "section": self.section,
            "ordinal": self.ordinal,
            "file_sha": self.file_sha,
        }
        if self.anchor:
            meta["anchor"] = self.anchor
        if self.page is not None:
            meta["page"] = self.page
        if self.label:
            meta["label"] = self.label
        if self.url:
            meta["url"] = self.url
        return meta

    @classmethod
    def from_store(cls, chunk_id: str, text: str, meta: dict[str, Any]) -> Chunk:
        return cls(
            id=chunk_id,
            text=text,
            source=meta["source"],
            title=meta["title"],
            section=meta["section"],
            anchor=meta.get("anchor"),
            page=meta.get("page"),
            ordinal=int(meta["ordinal"]),
            file_sha=meta["file_sha"],
            label=meta.get("label"),
            url=meta.get("url"),
        )

    def link(self, course_path: str = "") -> str:
        """What opens this passage: its own absolute URL if it has one (a video at the cue), else the path in
        the app (under `course_path`, a registered course's /c/NAME): the lesson at its section (or cell, slide,
        cue), or the PDF at its page."""
        if self.url:
            return self.url
        path = course_path + "/course/" + quote(self.source)
        if self.page is not None:
            return f"{path}#page={self.page}"
        return f"{path}#{quote(self.anchor)}" if self.anchor else path

    def href(self, base_url: str) -> str:
        """The link as an absolute URL: the app's paths are joined to `base_url`, the passage's own URL is kept."""
        link = self.link()
        return link if self.url else base_url + link  # base_url ends with the course's path

    def location(self) -> str:
        """A short human label: lesson, section, and page or cell/slide label ("Lecture 3 at 12:34" for a time)."""
        parts = [self.title]
        section = self.section.removeprefix(self.title).removeprefix(SECTION_SEPARATOR)
        if section:
            parts.append(section)
        if self.page is not None:
            parts.append(f"page {self.page}")
        text = SECTION_SEPARATOR.join(parts)
        if self.label:
            text += (" " if self.label.startswith("at ") else SECTION_SEPARATOR) + self.label
        return text


@dataclass(frozen=True)
class RetrievedChunk:
    """A chunk as retrieval returned it, with its similarity to the question (higher is closer)."""

    chunk: Chunk
    score: float  # cosine similarity to the question: what the refusal threshold is calibrated on
    lexical_score: float = 0.0  # BM25 score, 0 where the words do not match
    rank_score: float | None = None  # the fused score the ranking used
    neighbour_of: str | None = None  # set when added as the continuation of a split passage, not ranked itself

    def to_dict(self) -> dict[str, Any]:
        c = self.chunk
        return {
            "chunk_id": c.id,
            "source": c.source,
            "title": c.title,
            "section": c.section,
            "page": c.page,
            "score": round(self.score, 4),
            "lexical_score": round(self.lexical_score, 4),
            "neighbour_of": self.neighbour_of,
            "text": c.text,
        }


@dataclass(frozen=True)
class Citation:
    """What a marker [n] in an answer points at."""

    n: int
    source: str
    title: str
    section: str
    page: int | None
    url: str
    chunk_id: str
    label: str | None = None  # "cell 3", "slide 7", "at 12:34" where the format has one

    @classmethod
    def for_chunk(cls, n: int, chunk: Chunk, base_url: str) -> Citation:
        return cls(
            n=n,
            source=chunk.source,
            title=chunk.title,
            section=chunk.section,
            page=chunk.page,
            url=chunk.href(base_url),
            chunk_id=chunk.id,
            label=chunk.label,
        )


@dataclass
class Answer:
    """An answer to one question, in the shape of the CLI's --json contract."""

    question: str
    answer: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    retrieved: list[RetrievedChunk] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    # The question as answered: a follow-up ("what about its drawbacks?") rewritten to stand alone.
    standalone_question: str | None = None
    answerer: str = "extractive"  # "extractive" or "llm"
    # One line for the learner when something degraded, e.g. the LLM endpoint failed and the offline answer is shown.
    notice: str | None = None
    # Generated sentences that their cited passage does not support (always empty for extractive answers).
    unsupported_sentences: list[str] = field(default_factory=list)
    # What the refusal rule saw (app.scope.ScopeEvidence.to_dict()), so a refusal can be explained.
    scope: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "standalone_question": self.standalone_question or self.question,
            "answer": neutralise_html(self.answer),  # Markdown for any client: no live HTML from the course
            "refused": self.refused,
            "answerer": self.answerer,
            "notice": self.notice,
            "citations": [asdict(c) for c in self.citations],
            "unsupported_sentences": list(self.unsupported_sentences),
            "scope": self.scope,
            "retrieved": [r.to_dict() for r in self.retrieved],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }
