"""The generative answerer: prompt an OpenAI-compatible LLM with the retrieved passages, then check every citation it wrote."""
from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from app.engine.llm import LLMClient
from core.citations import renumber_markers, sentence_claims, support
from core.model import TextEmbedder
from core.text import content_words
from core.types import Citation, RetrievedChunk
from prompts import PROMPTS_DIR

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


def condense_with_llm(llm: LLMClient, question: str, history: list[dict[str, str]], max_chars: int) -> str:
    """The follow-up rewritten by the LLM; LLMError if the endpoint fails, ValueError if the reply is no question."""
    transcript = "\n".join(f"{m['role']}: {_as_data(m['content'])}" for m in history[-_HISTORY_TURNS:])
    prompt = prompt_template("condense_followup").format(history=transcript, question=_as_data(question))
    reply = llm.complete([{"role": "user", "content": prompt}]).strip().splitlines()
    standalone = reply[0].strip().strip('"') if reply else ""
    if not standalone or len(standalone) > max_chars:
        raise ValueError(f"the LLM's rewrite of the follow-up is unusable: {standalone[:80]!r}")
    return standalone


def stream_generated(llm: LLMClient, question: str, history: list[dict[str, str]], passages: list[RetrievedChunk]) -> Iterator[str]:
    """The model's answer, token by token, with citation markers numbered as `passages`."""
    yield from llm.stream(answer_messages(question, history, passages))


@dataclass
class CheckedAnswer:
    text: str  # markers renumbered 1..n in order of first use; markers to no passage removed
    citations: list[Citation]
    unsupported: list[str]  # sentences (without markers) their cited passages do not support
    supported_count: int


def check_citations(text: str, passages: list[RetrievedChunk], embedder: TextEmbedder | None, base_url: str) -> CheckedAnswer:
    """Remove markers that point at no passage, renumber the rest, and find sentences no cited passage supports."""
    numbering: dict[int, int] = {}  # passage number the model used -> number in the answer

    def renumber(n: int) -> int | None:
        if not 1 <= n <= len(passages):
            return None
        return numbering.setdefault(n, len(numbering) + 1)

    cleaned = renumber_markers(text, renumber)
    by_answer_number = {new: passages[old - 1] for old, new in numbering.items()}
    citations = [Citation.for_chunk(new, hit.chunk, base_url) for new, hit in sorted(by_answer_number.items())]
    unsupported: list[str] = []
    supported = 0
    for claim in sentence_claims(cleaned):
        cited = [by_answer_number[n] for n in claim.markers]
        if not cited and (claim.text.endswith(":") or len(content_words(claim.text)) < 2):
            continue  # "In short:" and the like claim nothing
        if any(support(claim.text, hit.chunk.text, embedder).supported for hit in cited):
            supported += 1
        else:
            unsupported.append(claim.text)
    return CheckedAnswer(cleaned, citations, unsupported, supported)
