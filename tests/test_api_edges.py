"""The API's edges on a real server over loopback: body size caps, odd bodies, and that every error is {"error": ...}."""
from __future__ import annotations

import re
import select
import shutil
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from core.settings import Settings
from ingest.pipeline import ingest_corpus
from tests.conftest import FIXTURE_COURSE, serving
from tests.test_api import read_events


@pytest.fixture(scope="module")
def edge_server(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("edges")
    shutil.copytree(FIXTURE_COURSE, root / "course")
    (root / "course" / "05-lens-caps.txt").write_text(
        "Lens caps\n\nA lens cap <img src=x onerror=alert(1)> keeps dust and scratches off the objective lens. "
        "Put the lens cap <script>alert(2)</script> back on after observing.\n"
    )
    settings = Settings(corpus_dir=root / "course", db_dir=root / "index", rate_limit_per_minute=100_000)
    ingest_corpus(settings, lambda: embedder)
    with serving(settings, embedder) as (url, guide):
        yield url, guide


def raw_exchange(url: str, head: str, body_parts: list[bytes]) -> tuple[int, bytes]:
    """Send a request head and body parts over a plain socket, then read the whole response; its status and body.

    Sending stops as soon as the server has answered: a server that refuses a body closes the connection with bytes
    of it unread, and the kernel then resets the connection, which can discard an answer the client has not read yet."""
    parts = urlsplit(url)
    data = b""
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head.encode("latin-1"))
        for part in body_parts:
            if select.select([sock], [], [], 0)[0]:
                break  # the answer is here: read it before sending more
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server closed after answering: read what it sent
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass  # the reset after the answer; what was read before it is the answer
    assert data, "the server sent no answer before closing the connection"
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.split(b"\r\n\r\n", 1)[1]


def test_the_default_body_cap_is_one_megabyte():
    assert Settings().max_request_bytes == 1_000_000


def test_a_100_mb_content_length_is_refused_with_413_before_the_body_is_sent(edge_server):
    url, guide = edge_server
    head = (
        "POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000000\r\nConnection: close\r\n\r\n"
    )
    status, body = raw_exchange(url, head, [])  # not one byte of the promised 100 MB is sent
    assert status == 413
    assert b'"error"' in body and b"1,000,000 bytes" in body and b"COURSE_GUIDE_MAX_REQUEST_BYTES" in body


def test_a_chunked_body_without_content_length_is_refused_with_413_once_past_the_cap(edge_server):
    url, guide = edge_server
    limit = guide.settings.max_request_bytes
    head = "POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    piece = b'{"question": "' + b"a" * 65_000
    chunks = []
    sent = 0
    while sent <= limit:
        chunks.append(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        sent += len(piece)
        piece = b"a" * 65_000
    # The body never ends (no final 0-length chunk): a 413 here means it was refused while being read.
    status, body = raw_exchange(url, head, chunks)
    assert status == 413 and b'"error"' in body


def test_a_body_under_the_cap_is_answered_normally_after_the_refusals(edge_server):
    url, _ = edge_server
    response = httpx.post(url + "/api/ask", json={"question": "What is a refracting telescope?", "history": []}, timeout=60)
    assert response.status_code == 200, response.text
    too_long = httpx.post(url + "/api/ask", json={"question": "x" * 5000}, timeout=60)
    assert too_long.status_code == 422 and "question" in too_long.json()["error"]


@pytest.mark.parametrize("name, body, content_type", [
    ("nested-100000-deep", b'{"question": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json"),
    ("latin-1-charset", '{"question": "Qu\'est-ce qu\'un réfracteur ?"}'.encode("latin-1"), "application/json; charset=latin-1"),
    ("utf-16-without-bom-claimed-utf-8", b'{\x00"\x00q\x00', "application/json; charset=utf-8"),
])
def test_unparseable_bodies_get_a_json_error_not_fastapis_detail(edge_server, name, body, content_type):
    url, _ = edge_server
    response = httpx.post(url + "/api/ask", content=body, headers={"Content-Type": content_type}, timeout=60)
    assert response.status_code == 400, response.text
    got = response.json()
    assert set(got) == {"error"}, got
    assert "UTF-8" in got["error"] or "not valid JSON" in got["error"]
    assert '{"question": "..."}' in got["error"]


def test_quiz_validation_errors_name_the_quiz_body_not_a_question(edge_server):
    url, _ = edge_server
    start = httpx.post(url + "/api/quiz", json={"n": "many"}, timeout=60)
    assert start.status_code == 422 and '"question"' not in start.json()["error"]
    assert '"topic"' in start.json()["error"] and start.json()["error"].startswith("Invalid request: n:")
    reply = httpx.post(url + "/api/quiz/reply", json={"reply": "x"}, timeout=60)
    assert reply.status_code == 422 and '"question"' not in reply.json()["error"] and '"session"' in reply.json()["error"]
    broken = httpx.post(url + "/api/quiz/reply", content=b"{", headers={"Content-Type": "application/json"}, timeout=60)
    assert broken.status_code == 400 and '"session"' in broken.json()["error"]


def test_api_docs_load_swagger_ui_from_this_server_not_a_cdn(edge_server):
    url, _ = edge_server
    page = httpx.get(url + "/api/docs", timeout=30)
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/api/") for a in assets), assets  # nothing from another host
    for asset in assets:
        got = httpx.get(url + asset, timeout=30)
        assert got.status_code == 200 and len(got.content) > 1000, asset
    bundle = httpx.get(url + "/api/docs-assets/swagger-ui-bundle.js", timeout=30).text
    assert "isOAS31" in bundle, "Swagger UI 5 or later: FastAPI's OpenAPI 3.1 needs it"
    assert "'/api/openapi.json'" in page.text or '"/api/openapi.json"' in page.text


def test_raw_html_from_a_txt_lesson_is_neutralised_in_the_api_answer_and_stream(edge_server):
    url, _ = edge_server
    question = {"question": "What does a lens cap keep off the objective lens?"}
    answer = httpx.post(url + "/api/ask", json=question, timeout=60).json()["answer"]
    assert "&lt;img src=x onerror=alert(1)>" in answer, answer  # the passage was cited, its tag made inert
    assert "<img" not in answer and "<script" not in answer
    events = read_events(httpx.post(url + "/api/ask/stream", json=question, timeout=60))
    tokens = "".join(data["text"] for name, data in events if name == "token")
    (final,) = [data for name, data in events if name == "answer"]
    assert tokens == final["answer"] == answer
    # Passage text (`retrieved[].text`) stays the course's text as is: documented as plain text, never Markdown.
    assert "<img src=x" in final["retrieved"][0]["text"]
