"""The generative answerer: prompt an OpenAI-compatible LLM with the retrieved passages, then check every citation it wrote."""
from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from app.llm import chat_completion, stream_chat_completion
from core.model import TextEmbedder
from core.settings import Settings
from core.text import content_words, split_sentences
from core.types import Citation, RetrievedChunk

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
_MARKERS = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
# A sentence counts as supported when enough of its words are in the cited passage, or it means the same.
SUPPORT_THRESHOLD = 0.5
# History turns sent to the model: enough for follow-ups, little enough to keep prompts short.
_HISTORY_TURNS = 6


@lru_cache(maxsize=None)
def prompt_template(name: str):
    """A prompt file from prompts/ as a LangChain PromptTemplate (placeholders in {braces})."""
    from langchain_core.prompts import PromptTemplate

    return PromptTemplate.from_file(PROMPTS_DIR / f"{name}.md", encoding="utf-8")


def _as_data(text: str) -> str:
    """Passage or question text escaped so it cannot close the tags that mark it as data."""
    return html.escape(text, quote=False)


def passages_block(passages: list[RetrievedChunk]) -> str:
    return "\n".join(
        f'<passage n="{n}" lesson="{_as_data(hit.chunk.title)}" section="{_as_data(hit.chunk.section)}">\n'
        f"{_as_data(hit.chunk.text)}\n</passage>"
        for n, hit in enumerate(passages, start=1)
    )


def answer_messages(question: str, history: list[dict[str, str]], passages: list[RetrievedChunk]) -> list[dict[str, str]]:
    """System rules, recent turns, then the passages and question as data in the user message."""
    system = prompt_template("system_rules").format()
    user = prompt_template("answer_with_citations").format(passages=passages_block(passages), question=_as_data(question))
    recent = [{"role": m["role"], "content": m["content"]} for m in history[-_HISTORY_TURNS:]]
    return [{"role": "system", "content": system}, *recent, {"role": "user", "content": user}]


def condense_with_llm(settings: Settings, question: str, history: list[dict[str, str]]) -> str:
    """The follow-up rewritten by the LLM; LLMError if the endpoint fails, ValueError if the reply is no question."""
    transcript = "\n".join(f"{m['role']}: {_as_data(m['content'])}" for m in history[-_HISTORY_TURNS:])
    prompt = prompt_template("condense_followup").format(history=transcript, question=_as_data(question))
    reply = chat_completion(settings, [{"role": "user", "content": prompt}]).strip().splitlines()
    standalone = reply[0].strip().strip('"') if reply else ""
    if not standalone or len(standalone) > settings.max_question_chars:
        raise ValueError(f"the LLM's rewrite of the follow-up is unusable: {standalone[:80]!r}")
    return standalone


def stream_generated(settings: Settings, question: str, history: list[dict[str, str]], passages: list[RetrievedChunk]) -> Iterator[str]:
    """The model's answer, token by token, with citation markers numbered as `passages`."""
    yield from stream_chat_completion(settings, answer_messages(question, history, passages))


@dataclass
class CheckedAnswer:
    text: str  # markers renumbered 1..n in order of first use; markers to no passage removed
    citations: list[Citation]
    unsupported: list[str]  # sentences (without markers) their cited passages do not support
    supported_count: int


def support_score(sentence: str, passage: str, embedder: TextEmbedder | None = None) -> float:
    """How well `passage` backs `sentence`, 0..1: the share of the sentence's words it contains, or, with an
    embedder, their meaning's cosine similarity when that is higher (a faithful paraphrase shares few words)."""
    words = set(content_words(sentence))
    if not words:
        return 1.0
    overlap = len(words & set(content_words(passage))) / len(words)
    if embedder is None or overlap >= SUPPORT_THRESHOLD:
        return overlap
    vectors = embedder.encode([sentence, passage])
    return max(overlap, float(np.dot(vectors[0], vectors[1])))


def check_citations(text: str, passages: list[RetrievedChunk], embedder: TextEmbedder | None, base_url: str) -> CheckedAnswer:
    """Remove markers that point at no passage, renumber the rest, and find sentences no cited passage supports."""
    numbering: dict[int, int] = {}  # passage number the model used -> number in the answer

    def renumber(match: re.Match) -> str:
        kept = []
        for raw in match.group(1).split(","):
            n = int(raw)
            if 1 <= n <= len(passages):
                numbering.setdefault(n, len(numbering) + 1)
                kept.append(f"[{numbering[n]}]")
        return " " + "".join(kept) if kept else ""

    cleaned = _MARKERS.sub(renumber, text).strip()
    by_answer_number = {new: passages[old - 1] for old, new in numbering.items()}
    citations = [Citation.for_chunk(new, hit.chunk, base_url) for new, hit in sorted(by_answer_number.items())]
    unsupported: list[str] = []
    supported = 0
    for sentence in split_sentences(cleaned):
        cited = [by_answer_number[int(n)] for n in re.findall(r"\[(\d+)\]", sentence.text)]
        bare = _MARKERS.sub("", sentence.text).strip()
        if len(content_words(bare)) < 3 and not cited:
            continue  # "In short:" and the like claim nothing
        score = max((support_score(bare, hit.chunk.text, embedder) for hit in cited), default=0.0)
        if score >= SUPPORT_THRESHOLD:
            supported += 1
        else:
            unsupported.append(bare)
    return CheckedAnswer(cleaned, citations, unsupported, supported)
