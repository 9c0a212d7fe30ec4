"""The optional LLM: any OpenAI-compatible chat endpoint (Ollama, vLLM, llama.cpp server, OpenAI) via langchain-openai."""
from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import openai

from core.settings import Settings

# What the endpoint and its client library raise for HTTP and connection errors, timeouts and unreadable JSON.
_ENDPOINT_FAILURES = (openai.OpenAIError, httpx.HTTPError, ValueError)
# What a reply of the wrong shape makes the client library raise while it parses it. Raised by our own code,
# these are bugs and must surface, not turn into "the LLM is unavailable" (see _raised_by_client).
_SHAPE_FAILURES = (KeyError, TypeError, AttributeError, IndexError)
_OUR_PACKAGES = tuple(str(Path(__file__).resolve().parents[2] / name) for name in ("app", "core", "ingest", "eval"))


class LLMError(RuntimeError):
    """The LLM endpoint failed: down, too slow, an HTTP error, or a reply that is not a chat completion."""


def llm_enabled(settings: Settings) -> bool:
    return bool(settings.llm_base_url)


def _raised_by_client(err: BaseException) -> bool:
    """True when the innermost frame of the error is library code (langchain, openai, httpx), not ours."""
    frames = traceback.extract_tb(err.__traceback__)
    return bool(frames) and not frames[-1].filename.startswith(_OUR_PACKAGES)


class LLMClient:
    """The configured endpoint: whole replies and streamed ones, every failure as one LLMError with a reason."""

    def __init__(self, settings: Settings):
        if not llm_enabled(settings):
            raise LLMError("No LLM endpoint is configured. Set COURSE_GUIDE_LLM_BASE_URL to use generated answers.")
        from langchain_openai import ChatOpenAI

        self.settings = settings
        self.base_url = str(settings.llm_base_url)
        # No retries: a learner waiting on a dead endpoint should get the offline answer quickly, not after backoff.
        self.model = ChatOpenAI(
            base_url=self.base_url,
            model=settings.llm_model,
            api_key=settings.llm_api_key,
            timeout=settings.llm_timeout_s,
            max_retries=0,
            temperature=0,
            max_completion_tokens=settings.llm_max_tokens,
        )

    def _failure(self, err: Exception) -> LLMError:
        if isinstance(err, (openai.APITimeoutError, httpx.TimeoutException)):
            reason = f"no reply within {self.settings.llm_timeout_s:g} s"
        elif isinstance(err, openai.APIStatusError):
            reason = f"HTTP {err.status_code}"
        elif isinstance(err, openai.APIConnectionError):
            reason = "cannot connect"
        else:
            reason = f"unreadable reply ({type(err).__name__})"
        return LLMError(f"The LLM endpoint {self.base_url} failed: {reason}. Check that it is running, or unset COURSE_GUIDE_LLM_BASE_URL.")

    def _empty(self) -> LLMError:
        return LLMError(f"The LLM endpoint {self.base_url} returned an empty reply. Check the model name ({self.settings.llm_model}).")

    @contextmanager
    def _calling(self) -> Iterator[None]:
        """Around one call into the client library: what the endpoint makes it raise becomes one LLMError."""
        try:
            yield
        except _ENDPOINT_FAILURES as err:
            raise self._failure(err) from err
        except _SHAPE_FAILURES as err:
            if not _raised_by_client(err):
                raise
            raise self._failure(err) from err

    def complete(self, messages: list[dict[str, str]]) -> str:
        """The endpoint's whole reply to `messages` (OpenAI-style {role, content} dicts)."""
        with self._calling():
            reply = self.model.invoke(messages)
        if not isinstance(reply.content, str) or not reply.content.strip():
            raise self._empty()
        return reply.content

    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]:
        """The endpoint's reply as it streams, token by token; LLMError if the stream fails or carries nothing."""
        pieces = self.model.stream(messages)
        produced = False
        while True:
            with self._calling():
                piece = next(pieces, None)
            if piece is None:
                break
            if isinstance(piece.content, str) and piece.content:
                produced = True
                yield piece.content
        if not produced:
            raise self._empty()
