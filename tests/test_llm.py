"""The LLM client against a scripted OpenAI-compatible server on loopback: replies, streams and every failure mode."""
import pytest

from app.engine.llm import LLMClient, LLMError, llm_enabled
from core.settings import Settings
from tests.fake_llm import Scripted, fake_llm_server

MESSAGES = [{"role": "user", "content": "Say hello."}]


def llm_settings(base_url: str, **overrides) -> Settings:
    return Settings(llm_base_url=base_url, llm_model="fake-model", llm_timeout_s=overrides.pop("llm_timeout_s", 5), **overrides)


def test_llm_is_off_by_default():
    assert not llm_enabled(Settings())
    with pytest.raises(LLMError, match="COURSE_GUIDE_LLM_BASE_URL"):
        LLMClient(Settings()).complete(MESSAGES)


def test_completion_and_stream_over_http():
    with fake_llm_server(["Hello from the course."]) as server:
        settings = llm_settings(server.base_url)
        assert LLMClient(settings).complete(MESSAGES) == "Hello from the course."
        pieces = list(LLMClient(settings).stream(MESSAGES))
    assert len(pieces) > 1 and "".join(pieces) == "Hello from the course."
    assert server.requests[0]["model"] == "fake-model" and server.requests[0]["messages"][-1]["content"] == "Say hello."
    assert server.requests[1]["stream"] is True


@pytest.mark.parametrize(
    "reply, message",
    [
        (Scripted(status=500), "HTTP 500"),
        (Scripted(status=404), "HTTP 404"),
        (Scripted("late", delay_s=3), "no reply within 1 s"),
        (Scripted(garbage=True), "unreadable reply"),
        (Scripted(""), "empty reply"),
    ],
    ids=["http-500", "http-404", "timeout", "malformed-stream", "empty-reply"],
)
def test_endpoint_failures_become_one_llm_error(reply, message):
    with fake_llm_server([reply]) as server:
        settings = llm_settings(server.base_url, llm_timeout_s=1)
        with pytest.raises(LLMError, match=message):
            list(LLMClient(settings).stream(MESSAGES))


def test_endpoint_down_is_an_llm_error():
    with fake_llm_server(["unused"]) as server:
        dead_url = server.base_url
    with pytest.raises(LLMError, match="cannot connect"):
        LLMClient(llm_settings(dead_url)).complete(MESSAGES)
