"""Many learners: the real engines as processes on loopback (`chroma run`, redis-server, PostgreSQL) and two
`course-guide serve` processes sharing them. One rate limit across both, a quiz continued across both, an ingest
published once and seen by both; and what the rate limit does when Redis goes away."""
from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from app.web.security import RateLimits
from core.settings import OFFLINE_ENVIRONMENT, Settings
from tests.conftest import (
    BIN,
    FIXTURE_COURSE,
    GALAXY_PAGES,
    RedisServer,
    build_pdf,
    free_port,
    new_postgres_database,
    start,
    stop,
    wait_until_up,
)

LIMIT = 6
# Each part of the test speaks for another client address (uvicorn trusts X-Forwarded-For from 127.0.0.1), so the
# parts do not use up each other's limit. Documentation addresses (RFC 5737): only a header, nothing is sent there.
LIMITED_CLIENT, OTHER_CLIENT, QUIZ_CLIENT, INGEST_CLIENT, OUTAGE_CLIENT = (f"198.51.100.{n}" for n in range(1, 6))


def as_client(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


# --------------------------------------------------------------------------- the counts themselves, on a real Redis

def test_two_counters_on_one_redis_share_one_limit_and_without_redis_each_counts_its_own(redis_server: RedisServer):
    first, second = RateLimits(3, redis_server.url), RateLimits(3, redis_server.url)
    assert [counter.hit("203.0.113.9") for counter in (first, second, first)] == [None, None, None]
    retry_after = second.hit("203.0.113.9")
    assert retry_after is not None and 1 <= retry_after <= 60, "the 4th request, on the other counter, is refused"
    assert first.hit("203.0.113.10") is None, "another address has its own count"
    assert first.health() == {"per_minute": 3, "counted_in": redis_server.url, "shared": True}

    alone, beside = RateLimits(3), RateLimits(3)
    assert [alone.hit("203.0.113.9") for _ in range(3)] == [None] * 3 and beside.hit("203.0.113.9") is None
    assert alone.health() == {"per_minute": 3, "counted_in": "this process", "shared": False}


def test_a_redis_outage_counts_in_the_process_and_redis_is_used_again_when_back(redis_server: RedisServer):
    counter = RateLimits(2, redis_server.url, retry_s=0.2)
    assert counter.hit("203.0.113.20") is None
    redis_server.stop()
    try:
        started = time.monotonic()
        assert counter.hit("203.0.113.20") is None, "no error: counted in this process"
        assert time.monotonic() - started < 2, "a refused connection costs no long wait"
        assert counter.hit("203.0.113.20") is None and counter.hit("203.0.113.20") is not None, "still limited meanwhile"
        health = counter.health()
        assert health["shared"] is False and health["counted_in"] == "this process (Redis unreachable)" and health["error"]
    finally:
        redis_server.start()
    time.sleep(0.3)
    assert counter.hit("203.0.113.21") is None
    assert counter.health()["shared"] is True, "back on Redis once it answers"


# --------------------------------------------------------------------------- two serve processes sharing the engines

@pytest.fixture(scope="module")
def replicas(tmp_path_factory, chroma_server, redis_server, postgres_server, embedder):
    """The fixture course ingested into the Chroma server, and two `course-guide serve` processes over Chroma, Redis
    and one PostgreSQL database; yields (settings, [url A, url B], store URL)."""
    from ingest.pipeline import ingest_corpus

    root = tmp_path_factory.mktemp("scaleout")
    course = root / "course"
    shutil.copytree(FIXTURE_COURSE, course)
    build_pdf(course / "04-galaxies.pdf", GALAXY_PAGES)
    host, port = chroma_server
    store_url = new_postgres_database(postgres_server)
    settings = Settings(corpus_dir=course, db_dir=root / "unused-index", chroma_host=host, chroma_port=port)
    assert ingest_corpus(settings, lambda: embedder, log=lambda _m: None, progress=False).published
    env = {**os.environ, **OFFLINE_ENVIRONMENT, "COURSE_GUIDE_CHROMA_HOST": host, "COURSE_GUIDE_CHROMA_PORT": str(port),
           "COURSE_GUIDE_DB_DIR": str(root / "no-local-index"), "COURSE_GUIDE_REDIS_URL": redis_server.url,
           "COURSE_GUIDE_STORE_URL": store_url, "COURSE_GUIDE_RATE_LIMIT_PER_MINUTE": str(LIMIT)}
    ports = [free_port(), free_port()]
    # Both start at once (each loads the model), like replicas behind a load balancer.
    processes = [start([str(BIN / "course-guide"), "serve", "--host", "127.0.0.1", "--port", str(p)], env, root) for p in ports]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        for url, process in zip(urls, processes):
            wait_until_up(url + "/api/health", process, f"serve on {url}", timeout=600)  # model loads: slow on a busy machine
        yield settings, urls, store_url
    finally:
        for process in processes:
            stop(process)


def test_one_rate_limit_across_both_servers(replicas):
    _, (a, b), _ = replicas
    codes = [httpx.get(url + "/api/sources", headers=as_client(LIMITED_CLIENT)).status_code for url in [a, b] * (LIMIT // 2)]
    assert codes == [200] * LIMIT, "requests alternate between the servers, all within the one limit"
    for url in (a, b):
        refused = httpx.get(url + "/api/sources", headers=as_client(LIMITED_CLIENT))
        assert refused.status_code == 429, f"request {LIMIT + 1} and after, on {url}"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert f"the limit is {LIMIT} per minute" in refused.json()["error"]
    assert httpx.get(b + "/api/sources", headers=as_client(OTHER_CLIENT)).status_code == 200, "another learner is not limited"
    health = httpx.get(a + "/api/health").json()
    assert health["rate_limits"]["shared"] is True and health["rate_limits"]["counted_in"].startswith("redis://127.0.0.1:")


def _attempts(store_url: str, session_id: str) -> list[tuple[str, str]]:
    with psycopg.connect(store_url.replace("postgresql+psycopg", "postgresql")) as connection:
        rows = connection.execute("SELECT item_id, verdict FROM quiz_attempts WHERE session_id = %s", (session_id,)).fetchall()
    return [(item, verdict) for item, verdict in rows]


def test_a_quiz_started_on_one_server_goes_on_on_the_other_and_each_attempt_is_stored_once(replicas):
    _, (a, b), store_url = replicas
    headers, learner = as_client(QUIZ_CLIENT), "learner-scaleout-1"
    started = httpx.post(a + "/api/quiz", json={"n": 2, "learner": learner}, headers=headers, timeout=60)
    assert started.status_code == 200, started.text
    session = started.json()["session"]
    assert session["session_id"] and session["current"]

    first = httpx.post(b + "/api/quiz/reply", json={"session": session, "reply": "I do not know", "learner": learner},
                       headers=headers, timeout=60)
    assert first.status_code == 200, first.text
    assert first.json()["attempt_id"], "B stores the reply to the quiz A started"
    # The same turn sent again, to either server (a retry, a double click): stored once.
    for url in (a, b):
        again = httpx.post(url + "/api/quiz/reply", json={"session": session, "reply": "I do not know", "learner": learner},
                           headers=headers, timeout=60)
        assert again.status_code == 200 and again.json()["attempt_id"] is None
    assert [item for item, _ in _attempts(store_url, session["session_id"])] == [session["current"]]

    after_b = first.json()["session"]
    second = httpx.post(a + "/api/quiz/reply", json={"session": after_b, "reply": "stars", "learner": learner},
                        headers=headers, timeout=60)
    assert second.status_code == 200 and second.json()["attempt_id"], second.text
    stored = _attempts(store_url, session["session_id"])
    assert sorted(item for item, _ in stored) == sorted([session["current"], after_b["current"]])
    progress = httpx.get(b + "/api/progress", params={"learner": learner}, headers=headers).json()
    assert sum(lesson["attempts"] for lesson in progress["lessons"]) == 2, "either server reads the same progress"


def test_an_ingest_is_published_once_and_both_servers_answer_from_it(replicas, embedder):
    from core.chroma_store import COLLECTION_PREFIX
    from core.index import open_store
    from ingest.pipeline import ingest_corpus

    settings, urls, _ = replicas
    question = {"question": "What is a Dobsonian?"}
    headers = as_client(INGEST_CLIENT)
    before = [httpx.post(url + "/api/ask", json=question, headers=headers, timeout=60).json() for url in urls]
    assert not any("Dobsonians" in c["section"] for body in before for c in body["citations"])

    lesson = Path(settings.corpus_dir) / "01-telescopes.md"
    lesson.write_text(lesson.read_text() + "\n## Dobsonians\n\nA Dobsonian is a reflector telescope on a simple rocking mount.\n")
    report = ingest_corpus(settings, lambda: embedder, log=lambda _m: None, progress=False)
    assert report.published and report.embedded <= 3, "one lesson changed: only its new passages are embedded"
    live = [c.name for c in open_store(settings).client().list_collections() if c.name == COLLECTION_PREFIX + report.generation]
    assert live == [COLLECTION_PREFIX + report.generation], "published once, in the Chroma server"

    with ThreadPoolExecutor(max_workers=2) as pool:
        after = list(pool.map(lambda url: httpx.post(url + "/api/ask", json=question, headers=headers, timeout=60), urls))
    for url, response in zip(urls, after):
        body = response.json()
        assert response.status_code == 200 and not body["refused"], f"{url}: {body}"
        assert any("Dobsonians" in c["section"] for c in body["citations"]), f"{url} answers from the new generation"
        assert httpx.get(url + "/api/health").json()["generation"] == report.generation
    assert after[0].json()["answer"] == after[1].json()["answer"]


def test_while_redis_is_down_the_servers_answer_and_health_says_the_limit_is_not_shared(replicas, redis_server: RedisServer):
    _, (a, b), _ = replicas
    redis_server.stop()
    try:
        for url in (a, b):
            response = httpx.get(url + "/api/sources", headers=as_client(OUTAGE_CLIENT))
            assert response.status_code == 200, f"{url}: no 5xx while Redis is down"
            limits = httpx.get(url + "/api/health").json()["rate_limits"]
            assert limits["shared"] is False and limits["counted_in"] == "this process (Redis unreachable)"
        codes = [httpx.get(a + "/api/sources", headers=as_client(OUTAGE_CLIENT)).status_code for _ in range(LIMIT)]
        assert codes[-1] == 429, "each server still limits on its own meanwhile"
    finally:
        redis_server.start()
    assert httpx.get(a + "/api/health").json()["rate_limits"]["shared"] is True, "shared again once Redis answers"


def test_serve_refuses_several_workers_with_the_chat_in_one_line():
    from click.testing import CliRunner

    from app.cli.main import main

    result = CliRunner().invoke(main, ["serve", "--workers", "2"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "Add --no-chat" in result.output and "sticky sessions" in result.output
