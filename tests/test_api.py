"""The REST API on a real server over real HTTP (httpx): the answer contract, SSE, bad requests, origins, rate limits, sources."""
from __future__ import annotations

import json
import re

import httpx
import pytest
from gradio_client import Client

from app.engine.answer import answer_question
from core.settings import Settings
from tests.conftest import serving
from tests.test_web import guarded_course  # noqa: F401 - the fixture: a course with a draft, a symlink out and odd names

COURSE_SITE = "https://course.example.edu"


@pytest.fixture(scope="module")
def api_server(shipped_settings, embedder):
    settings = shipped_settings.model_copy(update={"allowed_origins": [COURSE_SITE], "rate_limit_per_minute": 10_000})
    with serving(settings, embedder) as (url, guide):
        with httpx.Client(base_url=url, timeout=60) as client:
            yield client, guide


def read_events(response: httpx.Response) -> list[tuple[str, dict]]:
    """Parse a Server-Sent Events body the way a browser does: blank-line separated blocks of field lines."""
    events = []
    for block in response.text.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_ask_returns_the_cli_json_contract(api_server):
    client, guide = api_server
    response = client.post("/api/ask", json={"question": "What is a model registry?"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    got = response.json()
    expected = answer_question(guide, "What is a model registry?").to_dict()
    got.pop("timings_ms"), expected.pop("timings_ms")
    assert re.fullmatch(r"[0-9a-f-]{36}", got.pop("answer_id")), "every answer carries the id its feedback names"
    assert got == expected
    assert got["citations"] and got["citations"][0]["url"].startswith(f"{client.base_url}".rstrip("/") + "/course/06-")


def test_ask_takes_history_and_a_lesson_hint(api_server):
    client, _ = api_server
    history = [{"role": "user", "content": "What is data drift?"}, {"role": "assistant", "content": "Data drift is ... [1]"}]
    response = client.post("/api/ask", json={"question": "How is it detected?", "history": history, "lesson": "model-monitoring"})
    assert response.status_code == 200, response.text
    assert response.json()["question"] == "How is it detected?"


def test_stream_sends_tokens_then_the_answer_then_done(api_server):
    client, guide = api_server
    response = client.post("/api/ask/stream", json={"question": "How does a canary release work?"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = read_events(response)
    names = [name for name, _ in events]
    assert names[-2:] == ["answer", "done"] and names.count("token") >= 2 and set(names) == {"token", "answer", "done"}
    final = events[-2][1]
    assert "".join(data["text"] for name, data in events if name == "token") == final["answer"]
    assert final["citations"] and final["answer"] == answer_question(guide, "How does a canary release work?").answer


def test_stream_of_a_refusal_has_no_citations(api_server):
    client, _ = api_server
    events = read_events(client.post("/api/ask/stream", json={"question": "What is the capital of Australia?"}))
    final = dict(events)["answer"]
    assert final["refused"] is True and final["citations"] == []


BAD_REQUESTS = [
    ("invalid-json", b'{"question": "What is MLOps?"', 400, "not valid JSON"),
    ("not-an-object", b'["What is MLOps?"]', 422, "Invalid request"),
    ("missing-question", {"lesson": "model-monitoring"}, 422, "question: Field required"),
    ("empty-question", {"question": ""}, 422, "question"),
    ("blank-question", {"question": "   "}, 422, "Please type a question"),
    ("no-words", {"question": "?!?"}, 422, "in words"),
    ("question-too-long", {"question": "why " * 400}, 422, "at most 1000 characters"),
    ("question-not-a-string", {"question": 42}, 422, "valid string"),
    ("history-not-a-list", {"question": "What is MLOps?", "history": "earlier"}, 422, "history"),
    ("history-bad-role", {"question": "What is MLOps?", "history": [{"role": "system", "content": "x"}]}, 422, "history.0.role"),
    ("history-too-many", {"question": "What is MLOps?", "history": [{"role": "user", "content": "x"}] * 101}, 422, "history"),
    ("history-message-too-long", {"question": "What is MLOps?", "history": [{"role": "user", "content": "x" * 9000}]}, 422, "history.0.content"),
    ("lesson-too-long", {"question": "What is MLOps?", "lesson": "l" * 300}, 422, "lesson"),
    ("lesson-not-a-string", {"question": "What is MLOps?", "lesson": ["a"]}, 422, "lesson"),
    ("unknown-lesson", {"question": "What is MLOps?", "lesson": "underwater-basket-weaving"}, 422, "no lesson called"),
    ("unknown-field", {"question": "What is MLOps?", "questoin": "typo"}, 422, "questoin"),
]


@pytest.mark.parametrize("endpoint", ["/api/ask", "/api/ask/stream"])
@pytest.mark.parametrize("body, status, message", [case[1:] for case in BAD_REQUESTS], ids=[case[0] for case in BAD_REQUESTS])
def test_bad_requests_get_a_json_error_not_a_500(api_server, endpoint, body, status, message):
    client, _ = api_server
    if isinstance(body, bytes):
        response = client.post(endpoint, content=body, headers={"Content-Type": "application/json"})
    else:
        response = client.post(endpoint, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert message in response.json()["error"]


@pytest.mark.parametrize("method, path, status", [("GET", "/api/ask", 405), ("GET", "/api/nowhere", 404), ("DELETE", "/api/health", 405)],
                         ids=["get-ask", "unknown-endpoint", "delete-health"])
def test_wrong_method_or_path_is_a_json_error(api_server, method, path, status):
    client, _ = api_server
    response = client.request(method, path)
    assert response.status_code == status and "error" in response.json()


def test_health_reports_the_loaded_index(api_server):
    client, guide = api_server
    body = client.get("/api/health").json()
    manifest = guide.index.refresh()
    assert body["status"] == "ok" and body["index_loaded"] is True
    assert body["chunks"] == manifest.chunk_count > 100 and body["generation"] == manifest.generation
    assert body["files"] == 17 and body["store"].startswith("folder ")


def test_health_without_an_index_is_503_with_the_fix(tmp_path, embedder):
    with serving(Settings(corpus_dir=tmp_path, db_dir=tmp_path / "none"), embedder) as (url, _):
        response = httpx.get(url + "/api/health")
        ask = httpx.post(url + "/api/ask", json={"question": "What is MLOps?"})
    assert response.status_code == 503 and response.json()["index_loaded"] is False
    assert ask.status_code == 503 and "course-guide ingest" in ask.json()["error"]


def test_openapi_describes_every_endpoint(api_server):
    client, _ = api_server
    spec = client.get("/api/openapi.json").json()
    assert set(spec["paths"]) == {"/ask", "/ask/stream", "/quiz", "/quiz/reply", "/health", "/sources", "/sources/{source}",
                                  "/feedback", "/instructor/questions", "/progress", "/learner", "/quiz/dispute"}
    assert spec["components"]["schemas"]["AskRequest"]["properties"]["question"]["maxLength"] == 1000
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and "/api/openapi.json" in docs.text


def test_a_cited_passage_is_served_by_source_and_chunk_id(api_server):
    client, _ = api_server
    answer = client.post("/api/ask", json={"question": "What is a model registry?"}).json()
    citation = answer["citations"][0]
    body = client.get(f"/api/sources/{citation['source']}", params={"chunk_id": citation["chunk_id"]}).json()
    retrieved = next(r for r in answer["retrieved"] if r["chunk_id"] == citation["chunk_id"])
    assert [p["text"] for p in body["passages"]] == [retrieved["text"]]
    assert body["passages"][0]["url"] == citation["url"] and body["title"] == citation["title"]
    whole = client.get(f"/api/sources/{citation['source']}").json()
    assert len(whole["passages"]) > 1
    listing = client.get("/api/sources").json()["sources"]
    assert len(listing) == 17 and citation["source"] in {s["source"] for s in listing}


def test_unknown_passage_id_is_404(api_server):
    client, _ = api_server
    response = client.get("/api/sources/01-introduction-to-mlops.md", params={"chunk_id": "nope"})
    assert response.status_code == 404 and "No passage" in response.json()["error"]


@pytest.mark.parametrize(
    "path",
    ["../pyproject.toml", "..%2fpyproject.toml", "%2e%2e/%2e%2e/etc/passwd", "/etc/passwd", "%2Fetc%2Fpasswd",
     "missing.md", "escape-link.md", "..%5csecret.md", ".drafts/exam-answers.md", "%2edrafts/exam-answers.md",
     "lesson.md%00.txt", "./lesson.md/../escape-link.md"],
)
def test_source_serving_never_leaves_the_indexed_course(guarded_course, path):  # noqa: F811
    url, _, _ = guarded_course
    assert httpx.get(url + "/api/sources/lesson.md").status_code == 200
    response = httpx.get(f"{url}/api/sources/{path}")
    assert response.status_code == 404, (path, response.text[:200])
    assert "Secret" not in response.text and "root:" not in response.text and "error" in response.json()


def test_a_file_swapped_for_a_symlink_after_ingest_serves_only_indexed_text(guarded_course, tmp_path):  # noqa: F811
    url, guide, _ = guarded_course
    lesson = guide.corpus_dir(guide.index.refresh()) / "lesson.md"
    original = lesson.read_text()
    (tmp_path / "outside.md").write_text("# Outside\n\nSecret outside the course.\n")
    lesson.unlink()
    lesson.symlink_to(tmp_path / "outside.md")
    try:
        body = httpx.get(url + "/api/sources/lesson.md").text
    finally:
        lesson.unlink()
        lesson.write_text(original)
    assert "telescopes" in body and "Secret" not in body


# --- origins: CORS for the allowlist and localhost, 403 for anyone else; frame-ancestors on the pages.

@pytest.mark.parametrize("origin", [COURSE_SITE, "http://localhost:8123", "http://127.0.0.1:9000"],
                         ids=["allowlisted", "localhost", "loopback"])
def test_allowed_origins_get_cors_headers(api_server, origin):
    client, _ = api_server
    preflight = client.options("/api/ask/stream", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == origin
    response = client.post("/api/ask", json={"question": "What is MLOps?"}, headers={"Origin": origin})
    assert response.status_code == 200 and response.headers["access-control-allow-origin"] == origin


@pytest.mark.parametrize("origin", ["https://evil.example", "https://course.example.edu.evil.example", "null", "http://course.example.edu"],
                         ids=["other-site", "suffix-trick", "null-origin", "wrong-scheme"])
def test_other_origins_are_refused_with_403_and_no_cors(api_server, origin):
    client, _ = api_server
    preflight = client.options("/api/ask", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    response = client.post("/api/ask", json={"question": "What is MLOps?"}, headers={"Origin": origin})
    for refused in (preflight, response):
        assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
        assert "ALLOWED_ORIGINS" in refused.json()["error"]


def test_same_origin_requests_pass(api_server):
    client, _ = api_server
    origin = str(client.base_url).rstrip("/")
    assert client.post("/api/ask", json={"question": "What is MLOps?"}, headers={"Origin": origin}).status_code == 200


@pytest.mark.parametrize("path", ["/", "/course/", "/course/01-introduction-to-mlops.md"], ids=["chat", "contents", "lesson"])
def test_pages_may_be_framed_only_by_allowed_origins(api_server, path):
    client, _ = api_server
    response = client.get(path)
    policy = response.headers["content-security-policy"]
    assert response.status_code == 200 and policy.startswith("frame-ancestors 'self'")
    assert COURSE_SITE in policy.split() and "http://localhost:*" in policy.split()
    assert "content-security-policy" not in client.get("/api/health").headers


def test_widget_script_is_served_as_javascript(api_server):
    client, _ = api_server
    response = client.get("/widget.js", headers={"Origin": "https://anywhere.example"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/javascript")
    assert "attachShadow" in response.text and "max-age" in response.headers["cache-control"]


# --- rate limits: per client, 429 with Retry-After, and nobody else is held up.

def test_rate_limit_gives_429_with_retry_after_and_spares_others(shipped_settings, embedder):
    settings = shipped_settings.model_copy(update={"rate_limit_per_minute": 3, "public_url": "https://guide.example.edu"})
    with serving(settings, embedder) as (url, _), httpx.Client(base_url=url, timeout=60) as client:
        ask = {"question": "What is MLOps?"}
        first = [client.post("/api/ask", json=ask) for _ in range(3)]
        assert [r.status_code for r in first] == [200, 200, 200]
        assert first[0].json()["citations"][0]["url"].startswith("https://guide.example.edu/course/")
        limited = client.post("/api/ask/stream", json=ask, headers={"Origin": "http://localhost:8000"})
        assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
        assert "per minute" in limited.json()["error"]
        assert limited.headers["access-control-allow-origin"] == "http://localhost:8000", "the widget can read the 429"
        # Another learner (a different address, as a trusted proxy reports it) is still answered...
        other = client.post("/api/ask", json=ask, headers={"X-Forwarded-For": "10.1.2.3"})
        assert other.status_code == 200
        # ...and so are health checks and the chat, from the limited address itself.
        assert client.get("/api/health").status_code == 200
        reply = Client(url, verbose=False).predict("What is a model registry?", api_name="/ask")
        assert re.search(r"\[\[1\]\]\(/course/", reply)


def test_quiz_over_the_api_carries_its_session_on_the_client(api_server):
    from app.quiz.bank import course_items

    client, guide = api_server
    started = client.post("/api/quiz", json={"topic": "model monitoring", "n": 2})
    assert started.status_code == 200, started.text
    body = started.json()
    assert "Question 1 of 2" in body["message"] and body["finished"] is False
    current = course_items(guide)[body["session"]["current"]]
    graded = client.post("/api/quiz/reply", json={"session": body["session"], "reply": current.answer}).json()
    assert graded["message"].startswith("**Right.**") and "Reread: [" in graded["message"]
    assert graded["answered"] == 1 and graded["score"] == 1
    wrong = client.post("/api/quiz/reply", json={"session": graded["session"], "reply": "I don't know"}).json()
    assert "**Not right.**" in wrong["message"] and wrong["answered"] == 2
    stopped = client.post("/api/quiz/reply", json={"session": wrong["session"], "reply": "stop"}).json()
    assert stopped["finished"] is True


@pytest.mark.parametrize(
    "path, body, status, message",
    [
        ("/api/quiz", {"topic": "underwater basket weaving"}, 422, ""),
        ("/api/quiz", {"n": 0}, 422, "n:"),
        ("/api/quiz", {"n": "five"}, 422, "n:"),
        ("/api/quiz/reply", {"reply": "A"}, 422, "session: Field required"),
        ("/api/quiz/reply", {"session": {"queue": [], "results": [{"item_id": "x", "verdict": "correct", "score": 7}]}, "reply": "A"}, 422, "score"),
        ("/api/quiz/reply", {"session": {"queue": []}, "reply": "A", "extra": 1}, 422, "extra"),
    ],
    ids=["topic-not-in-course", "zero-questions", "n-not-a-number", "no-session", "forged-score", "unknown-field"],
)
def test_bad_quiz_requests_get_a_json_4xx(api_server, path, body, status, message):
    client, _ = api_server
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
