"""A small OpenAI-compatible chat server on loopback that replies from a script: the LLM stand-in for tests."""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.conftest import running_http_server


@dataclass
class Scripted:
    """One scripted reply. `text` is streamed in `pieces` (or sent whole when the client does not stream);
    `status` other than 200 sends an error; `delay_s` waits first; `garbage` sends a malformed body or stream."""

    text: str | Callable[[dict], str] = ""  # or a function of the request body, e.g. to quote a passage it was sent
    status: int = 200
    delay_s: float = 0.0
    garbage: bool = False
    piece_chars: int = 6


@dataclass
class FakeLLMServer:
    replies: list[Scripted]
    requests: list[dict] = field(default_factory=list)
    base_url: str = ""

    def next_reply(self) -> Scripted:
        # The last reply repeats, so a test scripting one reply can ask several questions.
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


def _handler(server: FakeLLMServer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            server.requests.append(body)
            reply = server.next_reply()
            if callable(reply.text):
                reply = Scripted(reply.text(body), reply.status, reply.delay_s, reply.garbage, reply.piece_chars)
            if reply.delay_s:
                time.sleep(reply.delay_s)
            if reply.status != 200:
                self._send(reply.status, "application/json", json.dumps({"error": {"message": "scripted failure"}}).encode())
                return
            if body.get("stream"):
                self._stream(body, reply)
            else:
                payload = b"{not json" if reply.garbage else json.dumps(_completion(body, reply.text)).encode()
                self._send(200, "application/json", payload)

        def _send(self, status: int, content_type: str, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _stream(self, body: dict, reply: Scripted) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            if reply.garbage:
                self.wfile.write(b"data: {\"choices\": [{\"delta\": {\"content\": \"Half\"}}]}\n\ndata: {this is not json\n\n")
                self.wfile.flush()
                return
            text = reply.text
            for start in range(0, len(text), reply.piece_chars):
                event = _chunk(body, {"content": text[start : start + reply.piece_chars]})
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.flush()
            done = _chunk(body, {}, finish="stop")
            self.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
            self.wfile.flush()

    return Handler


def _completion(body: dict, text: str) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _chunk(body: dict, delta: dict, finish: str | None = None) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


@contextmanager
def fake_llm_server(replies: list[Scripted | str]) -> Iterator[FakeLLMServer]:
    """Serve `replies` in order on a free loopback port; `.base_url` is what COURSE_GUIDE_LLM_BASE_URL takes."""
    script = FakeLLMServer([r if isinstance(r, Scripted) else Scripted(r) for r in replies])
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    httpd.daemon_threads = True
    script.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    with running_http_server(httpd):
        yield script
