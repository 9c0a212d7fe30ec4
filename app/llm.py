"""The optional LLM: any OpenAI-compatible chat endpoint (Ollama, vLLM, llama.cpp server, OpenAI) via langchain-openai."""
from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import httpx
import openai

from core.settings import Settings

# Everything a misbehaving endpoint can raise through the client: HTTP and connection errors, timeouts,
# and malformed JSON or reply shapes. Callers get one LLMError and fall back to the offline answer.
_ENDPOINT_FAILURES = (openai.OpenAIError, httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError, IndexError)


class LLMError(RuntimeError):
    """The LLM endpoint failed: down, too slow, an HTTP error, or a reply that is not a chat completion."""


def llm_enabled(settings: Settings) -> bool:
    return bool(settings.llm_base_url)


@lru_cache(maxsize=4)
def _chat_model(base_url: str, model: str, api_key: str, timeout_s: float, max_tokens: int):
    from langchain_openai import ChatOpenAI

    # No retries: a learner waiting on a dead endpoint should get the offline answer quickly, not after backoff.
    return ChatOpenAI(
        base_url=base_url,
        model=model,
        api_key=api_key,
        timeout=timeout_s,
        max_retries=0,
        temperature=0,
        max_completion_tokens=max_tokens,
    )


def chat_model(settings: Settings):
    """The LangChain chat model for the configured endpoint; LLMError if none is configured."""
    if not llm_enabled(settings):
        raise LLMError("No LLM endpoint is configured. Set COURSE_GUIDE_LLM_BASE_URL to use generated answers.")
    return _chat_model(
        settings.llm_base_url, settings.llm_model, settings.llm_api_key.get_secret_value(),
        settings.llm_timeout_s, settings.llm_max_tokens,
    )


def _failure(settings: Settings, err: Exception) -> LLMError:
    if isinstance(err, (openai.APITimeoutError, httpx.TimeoutException)):
        reason = f"no reply within {settings.llm_timeout_s:g} s"
    elif isinstance(err, openai.APIStatusError):
        reason = f"HTTP {err.status_code}"
    elif isinstance(err, openai.APIConnectionError):
        reason = "cannot connect"
    else:
        reason = f"unreadable reply ({type(err).__name__})"
    return LLMError(f"The LLM endpoint {settings.llm_base_url} failed: {reason}. Check that it is running, or unset COURSE_GUIDE_LLM_BASE_URL.")


def chat_completion(settings: Settings, messages: list[dict[str, str]]) -> str:
    """The endpoint's whole reply to `messages` (OpenAI-style {role, content} dicts)."""
    try:
        reply = chat_model(settings).invoke(messages)
    except _ENDPOINT_FAILURES as err:
        raise _failure(settings, err) from err
    if not isinstance(reply.content, str) or not reply.content.strip():
        raise LLMError(f"The LLM endpoint {settings.llm_base_url} returned an empty reply. Check the model name ({settings.llm_model}).")
    return reply.content


def stream_chat_completion(settings: Settings, messages: list[dict[str, str]]) -> Iterator[str]:
    """The endpoint's reply as it streams, token by token; LLMError if the stream fails or carries nothing."""
    produced = False
    try:
        for piece in chat_model(settings).stream(messages):
            if isinstance(piece.content, str) and piece.content:
                produced = True
                yield piece.content
    except _ENDPOINT_FAILURES as err:
        raise _failure(settings, err) from err
    if not produced:
        raise LLMError(f"The LLM endpoint {settings.llm_base_url} returned an empty reply. Check the model name ({settings.llm_model}).")
