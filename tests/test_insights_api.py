"""Recording and feedback over the real API and chat, and the instructor's API: answer ids, votes, 401s, 20 concurrent clients."""
from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from gradio_client import Client
from pydantic import SecretStr

from app.insights.recording import Recorder
from app.insights.store import InteractionStore
from tests.conftest import free_port, serving
from tests.test_api import read_events

TOKEN = "instructor-secret-" + "x" * 20


@pytest.fixture(scope="module")
def insights_server(shipped_settings, embedder, tmp_path_factory):
    settings = shipped_settings.model_copy(update={
        "rate_limit_per_minute": 10_000, "instructor_token": SecretStr(TOKEN), "state_dir": tmp_path_factory.mktemp("insights-state")})
    with serving(settings, embedder) as (url, guide):
        with httpx.Client(base_url=url, timeout=60) as client:
            yield client, InteractionStore.open(settings)


def recorded(store: InteractionStore, learner: str) -> list[dict]:
    return [row for row in store.questions(limit=None)[0] if row["answer_id"] and row.get("question") is not None
            and _learner_of(store, row["answer_id"]) == learner]


def _learner_of(store: InteractionStore, answer_id: str) -> str | None:
    from app.insights.models import Interaction

    with store.session() as session:
        return session.get(Interaction, answer_id).learner


def test_an_api_answer_is_recorded_under_its_answer_id(insights_server):
    client, store = insights_server
    body = client.post("/api/ask", json={"question": "What is a model registry?", "learner": "api-learner-1",
                                         "lesson": "model-registry-and-packaging"}).json()
    rows = recorded(store, "api-learner-1")
    assert [r["answer_id"] for r in rows] == [body["answer_id"]]
    row = rows[0]
    assert row["channel"] == "api" and row["question"] == "What is a model registry?" and row["refused"] is False
    assert row["lesson"] == "06-model-registry-and-packaging.md", "the lesson hint is recorded as the lesson file"
    assert row["sources"][0]["source"] == body["citations"][0]["source"] and row["answer"] == body["answer"]
    assert row["scope"] == body["scope"] and row["latency_ms"] > 0


def test_a_streamed_widget_answer_is_recorded_and_its_answer_event_carries_the_id(insights_server):
    client, store = insights_server
    events = read_events(client.post("/api/ask/stream", json={
        "question": "What is the capital of Australia?", "learner": "widget-learner-1", "channel": "widget"}))
    final = dict(events)["answer"]
    rows = recorded(store, "widget-learner-1")
    assert [r["answer_id"] for r in rows] == [final["answer_id"]]
    assert rows[0]["channel"] == "widget" and rows[0]["refused"] is True and rows[0]["nearest"], "a refusal keeps its nearest lessons"


@pytest.mark.parametrize("learner", ["x" * 65, "has space", ""], ids=["too-long", "space", "empty"])
def test_a_bad_learner_id_is_a_422(insights_server, learner):
    client, _ = insights_server
    response = client.post("/api/ask", json={"question": "What is MLOps?", "learner": learner})
    assert response.status_code == 422 and "learner" in response.json()["error"]


def test_feedback_is_stored_and_a_second_vote_replaces_the_first(insights_server):
    client, store = insights_server
    answer_id = client.post("/api/ask", json={"question": "What is data drift?", "learner": "voter-1"}).json()["answer_id"]
    first = client.post("/api/feedback", json={"answer_id": answer_id, "helpful": True})
    assert first.status_code == 200 and first.json() == {"answer_id": answer_id, "helpful": True, "comment": None}
    second = client.post("/api/feedback", json={"answer_id": answer_id, "helpful": False, "comment": "Too vague."})
    assert second.status_code == 200
    row = recorded(store, "voter-1")[0]
    assert row["helpful"] is False and row["comment"] == "Too vague."


def test_feedback_on_an_unknown_answer_is_404(insights_server):
    client, _ = insights_server
    response = client.post("/api/feedback", json={"answer_id": str(uuid.uuid4()), "helpful": True})
    assert response.status_code == 404 and "answer_id" in response.json()["error"]


@pytest.mark.parametrize("body, status, message", [
    (b'{"answer_id": ', 400, "not valid JSON"),
    ({"helpful": True}, 422, "answer_id: Field required"),
    ({"answer_id": "not-a-uuid", "helpful": True}, 422, "answer_id"),
    ({"answer_id": str(uuid.uuid4())}, 422, "helpful: Field required"),
    ({"answer_id": str(uuid.uuid4()), "helpful": "yes"}, 422, "helpful"),
    ({"answer_id": str(uuid.uuid4()), "helpful": True, "comment": "x" * 2001}, 422, "comment"),
    ({"answer_id": str(uuid.uuid4()), "helpful": True, "stars": 5}, 422, "stars"),
], ids=["invalid-json", "no-answer-id", "bad-answer-id", "no-helpful", "helpful-not-bool", "comment-too-long", "unknown-field"])
def test_bad_feedback_bodies_are_a_json_4xx(insights_server, body, status, message):
    client, _ = insights_server
    if isinstance(body, bytes):
        response = client.post("/api/feedback", content=body, headers={"Content-Type": "application/json"})
    else:
        response = client.post("/api/feedback", json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_twenty_concurrent_clients_are_each_recorded_exactly_once(insights_server):
    client, store = insights_server
    questions = [f"How is model drift detected in production, case {n}?" for n in range(20)]

    def ask(question: str) -> str:
        with httpx.Client(base_url=client.base_url, timeout=120) as own:
            endpoint = "/api/ask/stream" if question.endswith(("1?", "3?", "5?", "7?", "9?")) else "/api/ask"
            response = own.post(endpoint, json={"question": question, "learner": "crowd"})
            assert response.status_code == 200, response.text
            return dict(read_events(response))["answer"]["answer_id"] if endpoint.endswith("stream") else response.json()["answer_id"]

    with ThreadPoolExecutor(max_workers=20) as pool:
        ids = list(pool.map(ask, questions))
    rows = recorded(store, "crowd")
    assert len(rows) == 20 and sorted(r["answer_id"] for r in rows) == sorted(ids)
    assert sorted(r["question"] for r in rows) == sorted(questions)


def test_health_says_recording_is_on(insights_server):
    client, _ = insights_server
    recording = client.get("/api/health").json()["recording"]
    assert recording["enabled"] is True and recording["ok"] is True and recording["store"].startswith("sqlite:///")


def test_the_chat_records_its_answers_with_the_learner_cookie(insights_server):
    client, store = insights_server
    page = client.get("/")
    cookie = page.cookies.get("course_guide_learner")
    assert cookie and "HttpOnly" in page.headers["set-cookie"] and "Questions are recorded anonymously" in page.text
    reply = Client(str(client.base_url), verbose=False, headers={"Cookie": f"course_guide_learner={cookie}"}).predict(
        "What does a feature store do?", api_name="/ask")
    rows = recorded(store, cookie)
    assert len(rows) == 1 and rows[0]["channel"] == "chat" and f"(answer:{rows[0]['answer_id']})" in reply


# --- the instructor's API: off without a token, 401 without the right one.

def test_instructor_questions_need_the_token(insights_server):
    client, _ = insights_server
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}):
        response = client.get("/api/instructor/questions", headers=headers)
        assert response.status_code == 401 and "Bearer" in response.json()["error"], headers
        assert response.headers["www-authenticate"] == "Bearer"
    from app.insights.access import COOKIE, session_value

    cookie = client.get("/api/instructor/questions", headers={"Cookie": f"{COOKIE}={session_value(TOKEN)}"})
    assert cookie.status_code == 401, "the API takes the Bearer header only, never the dashboard's cookie"


def test_instructor_questions_are_newest_first_and_paged(insights_server):
    client, _ = insights_server
    asked = [client.post("/api/ask", json={"question": q, "learner": "pager"}).json()["answer_id"]
             for q in ("What is MLOps?", "What is a canary release?", "What is the capital of France?")]
    auth = {"Authorization": f"Bearer {TOKEN}"}
    first = client.get("/api/instructor/questions", params={"limit": 2}, headers=auth)
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    body = first.json()
    assert [q["answer_id"] for q in body["questions"]] == asked[::-1][:2] and body["next_offset"] == 2
    assert set(body["questions"][0]) >= {"answer_id", "question", "refused", "helpful", "channel", "lesson", "asked_at"}
    second = client.get("/api/instructor/questions", params={"limit": 2, "offset": 2}, headers=auth).json()
    assert second["questions"][0]["answer_id"] == asked[0]
    refused = client.get("/api/instructor/questions", params={"refused": "true", "channel": "api"}, headers=auth).json()
    assert all(q["refused"] and q["channel"] == "api" for q in refused["questions"]) and refused["total"] >= 1
    bad = client.get("/api/instructor/questions", params={"since": "last tuesday"}, headers=auth)
    assert bad.status_code == 422 and "since" in bad.json()["error"]


def test_instructor_api_is_off_without_a_configured_token(shipped_settings, embedder, tmp_path):
    settings = shipped_settings.model_copy(update={"state_dir": tmp_path / "state"})
    with serving(settings, embedder) as (url, _):
        response = httpx.get(url + "/api/instructor/questions", headers={"Authorization": "Bearer anything"})
        page = httpx.get(url + "/instructor")
    assert response.status_code == 404 and "COURSE_GUIDE_INSTRUCTOR_TOKEN" in response.json()["error"]
    assert page.status_code == 404 and "COURSE_GUIDE_INSTRUCTOR_TOKEN" in page.text


def test_a_dead_store_never_fails_an_answer_and_health_says_so(shipped_settings, embedder):
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    settings = shipped_settings.model_copy(update={"store_url": dead})
    with serving(settings, embedder) as (url, _):
        answer = httpx.post(url + "/api/ask", json={"question": "What is MLOps?"}, timeout=60)
        events = read_events(httpx.post(url + "/api/ask/stream", json={"question": "What is MLOps?"}, timeout=60))
        health = httpx.get(url + "/api/health").json()
        vote = httpx.post(url + "/api/feedback", json={"answer_id": answer.json()["answer_id"], "helpful": True})
    assert answer.status_code == 200 and answer.json()["citations"] and dict(events)["answer"]["answer_id"]
    assert health["status"] == "ok" and health["recording"]["ok"] is False and "not being recorded" in health["recording"]["error"]
    assert vote.status_code == 503 and "try again" in vote.json()["error"]
    assert json.dumps(health).count("postgres@") <= 1


def test_recording_off_gives_ids_but_stores_nothing(shipped_settings, embedder, tmp_path):
    settings = shipped_settings.model_copy(update={"record_interactions": False, "state_dir": tmp_path / "state"})
    with serving(settings, embedder) as (url, _):
        body = httpx.post(url + "/api/ask", json={"question": "What is MLOps?"}, timeout=60).json()
        vote = httpx.post(url + "/api/feedback", json={"answer_id": body["answer_id"], "helpful": True})
        page = httpx.get(url + "/")
    assert vote.status_code == 409 and "COURSE_GUIDE_RECORD_INTERACTIONS" in vote.json()["error"]
    assert not (tmp_path / "state").exists() and "course_guide_learner" not in page.headers.get("set-cookie", "")
    assert Recorder(settings).health() == {"enabled": False}


def test_serve_says_in_one_line_how_to_turn_the_instructor_pages_on(tmp_path):
    from app.cli.serve import instructor_line
    from core.settings import Settings

    off = instructor_line(Settings(state_dir=tmp_path))
    on = instructor_line(Settings(state_dir=tmp_path, instructor_token="s3cret-token", port=8123))
    assert "\n" not in off and "COURSE_GUIDE_INSTRUCTOR_TOKEN" in off and "off" in off
    assert on.startswith("Instructor insights: http://127.0.0.1:8123/instructor") and "s3cret" not in on
    assert "not recorded" in instructor_line(Settings(state_dir=tmp_path, record_interactions=False))


def test_two_replicas_on_one_postgres_record_twenty_concurrent_clients_once_each(shipped_settings, embedder, postgres_server):
    from tests.conftest import new_postgres_database

    url = new_postgres_database(postgres_server)
    settings = shipped_settings.model_copy(update={"store_url": url, "rate_limit_per_minute": 10_000})
    questions = [f"What does a model registry store, question {n}?" for n in range(20)]
    with serving(settings, embedder) as (first, _), serving(settings, embedder) as (second, _):
        def ask(n: int) -> str:
            response = httpx.post((first, second)[n % 2] + "/api/ask", json={"question": questions[n], "learner": f"r{n}"}, timeout=120)
            assert response.status_code == 200, response.text
            return response.json()["answer_id"]

        with ThreadPoolExecutor(max_workers=20) as pool:
            ids = list(pool.map(ask, range(20)))
    store = InteractionStore(url)
    rows, total = store.questions(limit=None)
    store.close()
    assert total == 20 and sorted(r["answer_id"] for r in rows) == sorted(ids)
    assert sorted(r["question"] for r in rows) == sorted(questions)
