"""The learner-interaction store on real SQLite and real PostgreSQL: migrations, votes, paging, retention, forget, concurrency, outages."""
from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import inspect, text

from app.insights.recording import Recorder, interaction_row
from app.insights.store import InteractionStore, StoreError, UnknownAnswerError, now
from core.settings import Settings
from core.types import Answer, Citation
from tests.conftest import new_postgres_database


def an_answer(question: str = "What is a model registry?", refused: bool = False) -> Answer:
    citations = [] if refused else [Citation(1, "06-model-registry.md", "Model registry", "Model registry > What", None, "http://x/course/06", "c1")]
    return Answer(question=question, answer="A registry stores models [1]." if not refused else "The course does not cover this.",
                  refused=refused, citations=citations, timings_ms={"total": 12.5}, scope={"best_similarity": 0.4})


def add(store: InteractionStore, question: str = "What is a model registry?", *, learner: str | None = "learner-1",
        refused: bool = False, channel: str = "api", age: timedelta = timedelta(0), lesson: str | None = None) -> str:
    answer_id = str(uuid.uuid4())
    store.add(interaction_row(an_answer(question, refused), answer_id, channel=channel, course="mlops", learner=learner,
                              lesson=lesson, asked_at=now() - age))
    return answer_id


@pytest.fixture
def store(store_url):
    opened = InteractionStore(store_url, retention_days=180)
    yield opened
    opened.close()


def test_opening_runs_the_shipped_migrations_once(store, store_url):
    tables = set(inspect(store.engine).get_table_names())
    assert {"interactions", "feedback", "quiz_sessions", "quiz_attempts", "review_cards", "lti_platforms", "lti_tool_keys",
            "lti_login_states", "lti_grades", "courses", "alembic_version"} <= tables
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0006"
    add(store)
    again = InteractionStore(store_url)  # a second replica, or a restart: nothing is lost or redone
    assert again.count() == 1
    again.close()


def test_a_recorded_question_comes_back_with_everything_but_an_address(store):
    answer_id = add(store, "What is a model registry?", channel="widget", lesson="06-model-registry.md")
    rows, total = store.questions()
    assert total == 1 and rows[0]["answer_id"] == answer_id
    row = rows[0]
    assert row["question"] == "What is a model registry?" and row["channel"] == "widget" and row["refused"] is False
    assert row["lesson"] == "06-model-registry.md" and row["latency_ms"] == 12.5 and row["sources"][0]["source"] == "06-model-registry.md"
    assert row["scope"] == {"best_similarity": 0.4} and row["helpful"] is None and row["course"] == "mlops"
    assert row["asked_at"].endswith("+00:00")
    columns = {c["name"] for c in inspect(store.engine).get_columns("interactions")}
    assert not {"ip", "address", "client", "name"} & columns


def test_a_second_vote_replaces_the_first(store):
    answer_id = add(store)
    store.vote(answer_id, True, None)
    store.vote(answer_id, False, "It did not say how to register one.")
    rows, _ = store.questions()
    assert rows[0]["helpful"] is False and rows[0]["comment"] == "It did not say how to register one."
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM feedback")).scalar_one() == 1


def test_a_vote_on_an_unknown_answer_is_refused(store):
    with pytest.raises(UnknownAnswerError):
        store.vote(str(uuid.uuid4()), True, None)


def test_questions_are_newest_first_paged_and_filtered(store):
    ids = [add(store, f"Question {i}?", age=timedelta(minutes=10 - i), refused=i % 2 == 0, channel="chat" if i < 5 else "api")
           for i in range(10)]
    page, total = store.questions(limit=4)
    assert total == 10 and [r["answer_id"] for r in page] == ids[::-1][:4]
    rest, _ = store.questions(limit=4, offset=8)
    assert [r["answer_id"] for r in rest] == ids[::-1][8:]
    refused, count = store.questions(refused=True)
    assert count == 5 and all(r["refused"] for r in refused)
    chat, count = store.questions(channel="chat", since=now() - timedelta(minutes=7, seconds=30))
    assert count == 2 and {r["question"] for r in chat} == {"Question 3?", "Question 4?"}


def test_retention_deletes_old_records_and_their_votes(store):
    old = add(store, "An old question?", age=timedelta(days=200))
    store.vote(old, False, "old")
    recent = add(store, "A recent question?", age=timedelta(days=10))
    assert store.purge() == 1
    rows, total = store.questions()
    assert total == 1 and rows[0]["answer_id"] == recent
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM feedback")).scalar_one() == 0


def test_forget_deletes_one_learners_records_only(store):
    mine = [add(store, f"Mine {i}?", learner="learner-a") for i in range(3)]
    store.vote(mine[0], True, None)
    theirs = add(store, "Theirs?", learner="learner-b")
    assert store.forget("learner-a") == 3
    rows, total = store.questions()
    assert total == 1 and rows[0]["answer_id"] == theirs
    assert store.forget("learner-a") == 0


def test_twenty_concurrent_writers_each_record_exactly_once(store):
    errors: list[Exception] = []

    def write(n: int) -> None:
        try:
            for i in range(5):
                add(store, f"Writer {n} question {i}?", learner=f"w{n}")
        except Exception as err:  # noqa: BLE001 - collected and reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    rows, total = store.questions(limit=None)
    assert total == 100 and len({r["question"] for r in rows}) == 100


def test_a_bad_url_says_how_to_fix_it():
    with pytest.raises(StoreError, match="COURSE_GUIDE_STORE_URL"):
        InteractionStore("not a url")


def test_the_state_folder_may_not_lie_inside_the_index(tmp_path):
    settings = Settings(db_dir=tmp_path / "index", state_dir=tmp_path / "index" / "state")  # other commands still work
    with pytest.raises(StoreError, match="COURSE_GUIDE_STATE_DIR"):
        InteractionStore.open(settings)
    recorder = Recorder(settings)
    assert uuid.UUID(recorder.record(an_answer(), channel="api"))
    assert "lies inside the index folder" in recorder.health()["error"] and not (tmp_path / "index").exists()


def _allow_connections(server: str, url: str, allowed: bool) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(server.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True) as connection:
        connection.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))


def test_postgres_down_never_fails_an_answer_and_recording_resumes(postgres_server, tmp_path):
    url = new_postgres_database(postgres_server)
    recorder = Recorder(Settings(store_url=url, db_dir=tmp_path / "index"))
    recorder.record(an_answer(), channel="api")
    assert recorder.health()["ok"] is True
    _allow_connections(postgres_server, url, False)
    try:
        lost = recorder.record(an_answer("Asked while the database is down?"), channel="widget")
        assert uuid.UUID(lost) and recorder.health()["ok"] is False
        assert "not being recorded" in recorder.health()["error"]
        skipped = recorder.record(an_answer("Asked just after the failure?"), channel="api")
        assert uuid.UUID(skipped) and recorder.failed == 2, "no second wait for a store that just failed"
    finally:
        _allow_connections(postgres_server, url, True)
    recorder._retry_at = 0.0  # the 5 s pause before the next try, skipped
    recorder.record(an_answer("Asked after it came back?"), channel="chat")
    health = recorder.health()
    assert health["ok"] is True and health["recorded"] == 2 and health["failed"] == 2
    assert [r["question"] for r in recorder.store().questions()[0]] == ["Asked after it came back?", "What is a model registry?"]
    recorder.close()


def test_a_store_down_at_start_is_opened_once_it_is_up(postgres_server, tmp_path):
    url = new_postgres_database(postgres_server)
    _allow_connections(postgres_server, url, False)
    recorder = Recorder(Settings(store_url=url, db_dir=tmp_path / "index"))
    try:
        recorder.record(an_answer(), channel="api")
        assert recorder.health()["ok"] is False
    finally:
        _allow_connections(postgres_server, url, True)
    recorder._retry_at = 0.0  # the 5 s pause before the next try, skipped
    recorder.record(an_answer("Second?"), channel="api")
    assert recorder.health()["ok"] is True and recorder.store().count() == 1
    recorder.close()


def test_recording_off_records_nothing(tmp_path):
    recorder = Recorder(Settings(state_dir=tmp_path / "state", record_interactions=False))
    assert uuid.UUID(recorder.record(an_answer(), channel="api"))
    assert recorder.health() == {"enabled": False} and not (tmp_path / "state").exists()


def test_two_replicas_opening_one_new_postgres_store_at_once_both_work(postgres_server):
    """Two processes (replicas) migrate one empty database at the same moment: PostgreSQL's advisory lock lets one go first."""
    import subprocess
    import sys

    url = new_postgres_database(postgres_server)
    script = ("import sys; from app.insights.store import InteractionStore; s = InteractionStore(sys.argv[1]); "
              "print(s.count()); s.close()")
    replicas = [subprocess.Popen([sys.executable, "-c", script, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
    outputs = [replica.communicate(timeout=120) for replica in replicas]
    assert [replica.returncode for replica in replicas] == [0, 0], outputs
    assert [out.strip() for out, _ in outputs] == ["0", "0"]
    store = InteractionStore(url)
    add(store)
    assert store.count() == 1
    store.close()


def test_one_process_opening_stores_from_many_threads_migrates_each_once(store_url):
    opened: list[InteractionStore] = []
    errors: list[Exception] = []

    def open_one() -> None:
        try:
            opened.append(InteractionStore(store_url))
        except Exception as err:  # noqa: BLE001 - collected and reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(opened) == 4
    for store in opened:
        store.close()


def test_the_recorder_applies_the_retention_period_when_it_opens_the_store(tmp_path):
    settings = Settings(state_dir=tmp_path / "state", retention_days=30)
    store = InteractionStore.open(settings)
    old = add(store, "Asked 31 days ago?", age=timedelta(days=31))
    kept = add(store, "Asked 29 days ago?", age=timedelta(days=29))
    store.close()
    recorder = Recorder(settings)
    recorder.record(an_answer("Asked today?"), channel="api")
    ids = [r["answer_id"] for r in recorder.store().questions(limit=None)[0]]
    assert old not in ids and kept in ids and len(ids) == 2
    recorder.close()
