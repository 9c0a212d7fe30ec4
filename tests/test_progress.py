"""Learner progress: attempts stored once (API, chat), forged and replayed sessions, FSRS against the library, mastery, review quizzes, 20 learners at once."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from fsrs import Card, Rating, Scheduler

from app.insights import progress
from app.insights.quiz_report import quiz_summary, render_quiz_page
from app.insights.recording import Recorder
from app.insights.store import MIGRATIONS, InteractionStore
from app.quiz.bank import course_items
from app.web.quiz_chat import quiz_turn, session_from_history
from core.quiz import QuizItem
from tests.conftest import new_postgres_database, serving

T0 = datetime(2026, 9, 1, 9, 0, tzinfo=timezone.utc)
ITEM = QuizItem.from_dict({"id": "it-1", "source": "09-model-monitoring.md", "section": "Model monitoring › Drift", "type": "short_answer",
                           "question": "What is drift?", "choices": [], "answer": "A change in the data", "explanation": "Drift is a change.",
                           "chunk_id": "c1", "origin": "instructor"})


def _right(item) -> str:
    return "ABCD"[item.choices.index(item.answer)] if item.type == "multiple_choice" else item.answer


# ------------------------------------------------------------------ the store itself (SQLite and PostgreSQL)

def test_fsrs_schedule_matches_the_library_on_a_known_sequence(store_url):
    store = InteractionStore(store_url)
    verdicts = ["correct", "wrong", "partly", "correct", "correct", "correct"]
    scheduler, card, at, intervals = Scheduler(enable_fuzzing=False), Card(due=T0), T0, []
    for n, verdict in enumerate(verdicts):
        progress.start_session(store, f"s{n}", "fsrs-learner", at)
        assert progress.store_attempt(store, session_id=f"s{n}", learner="fsrs-learner", item=ITEM, reply="x", score=1.0,
                                      verdict=verdict, channel="api", at=at)
        card, _ = scheduler.review_card(card, {"correct": Rating.Good, "wrong": Rating.Again, "partly": Rating.Hard}[verdict], at)
        stored = progress.cards(store, "fsrs-learner")["it-1"]
        assert stored.card["stability"] == pytest.approx(card.stability) and stored.card["difficulty"] == pytest.approx(card.difficulty)
        assert progress.utc(stored.due) == card.due and stored.card["state"] == card.state.value and stored.reviews == n + 1
        intervals.append(card.due - at)
        at = card.due + timedelta(hours=1)  # answered an hour after it fell due
    assert intervals[1] <= timedelta(minutes=10) and intervals[-1] > timedelta(days=1) and intervals[-1] > intervals[-2], \
        "a miss comes back within minutes; right answers in a row push the item out by days"
    store.close()


def test_a_replay_or_a_forged_session_stores_nothing_more(store_url):
    store = InteractionStore(store_url)
    progress.start_session(store, "sess-a", "alice", T0)
    first = progress.store_attempt(store, session_id="sess-a", learner="alice", item=ITEM, reply="no idea", score=0.0, verdict="wrong", channel="api", at=T0)
    assert first is not None
    replay = progress.store_attempt(store, session_id="sess-a", learner="alice", item=ITEM, reply=ITEM.answer, score=1.0,
                                    verdict="correct", channel="api", at=T0 + timedelta(minutes=1))
    assert replay is None, "the same (session, item) a second time is not stored"
    assert progress.store_attempt(store, session_id="made-up", learner="alice", item=ITEM, reply=ITEM.answer, score=1.0,
                                  verdict="correct", channel="api") is None, "a session the server never started stores nothing"
    assert progress.store_attempt(store, session_id="sess-a", learner="mallory", item=ITEM, reply=ITEM.answer, score=1.0,
                                  verdict="correct", channel="api") is None, "another learner's session stores nothing"
    rows = progress.attempts(store)
    assert [(r["learner"], r["verdict"], r["score"], r["attempt_id"]) for r in rows] == [("alice", "wrong", 0.0, first)]
    assert progress.cards(store, "alice")["it-1"].reviews == 1 and progress.cards(store, "mallory") == {}
    store.forget("alice")
    assert progress.attempts(store) == [] and progress.cards(store, "alice") == {}
    store.close()


def test_a_brought_back_item_stores_its_second_reply_once_and_only_after_a_miss(store_url):
    store = InteractionStore(store_url)
    progress.start_session(store, "sess-b", "bea", T0)
    attempt = dict(session_id="sess-b", learner="bea", item=ITEM, channel="api")
    assert progress.store_attempt(store, **attempt, reply="no idea", score=0.0, verdict="wrong", at=T0)
    second = progress.store_attempt(store, **attempt, reply=ITEM.answer, score=1.0, verdict="correct", presentation=1, at=T0 + timedelta(minutes=2))
    assert second is not None, "the item came back after the miss: its second reply is stored"
    assert progress.store_attempt(store, **attempt, reply=ITEM.answer, score=1.0, verdict="correct", presentation=1) is None, "once"
    assert progress.store_attempt(store, **attempt, reply="x", score=1.0, verdict="correct", presentation=7) is None, \
        "a forged presentation number is capped at the one bring-back a quiz makes"
    progress.start_session(store, "sess-c", "bea", T0)
    assert progress.store_attempt(store, session_id="sess-c", learner="bea", item=ITEM, channel="api", reply=ITEM.answer, score=1.0, verdict="correct")
    assert progress.store_attempt(store, session_id="sess-c", learner="bea", item=ITEM, channel="api", reply=ITEM.answer, score=1.0,
                                  verdict="correct", presentation=1) is None, "a right first reply is never brought back, so no second attempt"
    assert [(r["session_id"], r["verdict"]) for r in progress.attempts(store, "bea")] == [("sess-b", "wrong"), ("sess-b", "correct"), ("sess-c", "correct")]
    assert progress.cards(store, "bea")["it-1"].reviews == 3
    store.close()


def test_merging_two_learner_ids_moves_every_record_and_keeps_the_targets_card(store_url):
    store = InteractionStore(store_url)
    other = QuizItem.from_dict({**ITEM.to_dict(), "id": "it-2"})
    for learner, session_id in (("widget-id", "w-1"), ("chat-id", "c-1")):
        progress.start_session(store, session_id, learner, T0)
        progress.store_attempt(store, session_id=session_id, learner=learner, item=ITEM, reply="r", score=1.0, verdict="correct", channel="api", at=T0)
    progress.store_attempt(store, session_id="w-1", learner="widget-id", item=other, reply="r", score=0.0, verdict="wrong", channel="api", at=T0)
    chat_card = progress.cards(store, "chat-id")["it-1"].card
    assert store.merge_learner("widget-id", "chat-id") >= 4
    assert progress.attempts(store, "widget-id") == [] and progress.cards(store, "widget-id") == {}
    assert sorted(r["session_id"] for r in progress.attempts(store, "chat-id")) == ["c-1", "w-1", "w-1"]
    cards = progress.cards(store, "chat-id")
    assert set(cards) == {"it-1", "it-2"} and cards["it-1"].card == chat_card, "where both had a card for an item, the target's stays"
    assert store.merge_learner("chat-id", "chat-id") == 0
    store.close()


def test_a_store_of_the_previous_version_gains_the_quiz_tables_and_keeps_its_questions(store_url):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, inspect, text

    InteractionStore(store_url).close()  # makes the SQLite folder; then the schema goes back to 0001, as an older version left it
    engine = create_engine(store_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
        connection.execute(text("INSERT INTO interactions (answer_id, asked_at, course, channel, question, standalone, answer, refused, "
                                "sources, nearest, answerer, latency_ms) VALUES ('a-1', '2026-09-01 09:00:00', 'c', 'api', 'q', 'q', 'a', "
                                "false, '[]', '[]', 'extractive', 1.0)"))
    engine.dispose()
    store = InteractionStore(store_url)
    assert store.count() == 1 and "quiz_attempts" in inspect(store.engine).get_table_names()
    store.close()


def test_mastery_weights_recent_attempts_more():
    assert progress.mastery([]) == 0.0
    assert progress.mastery([1.0, 0.0]) == pytest.approx(1 / 1.8, abs=1e-3), "newest first: the newest weighs 1, the one before 0.8"
    assert progress.mastery([0.0, 1.0]) == pytest.approx(0.8 / 1.8, abs=1e-3)
    assert progress.mastery([1.0] * 10 + [0.0] * 5) == 1.0, "only the last ten attempts count"


# ------------------------------------------------------------------ through the real API

@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def progress_server(request, shipped_settings, embedder, tmp_path_factory):
    """The real app recording into SQLite in its state folder, and into a database on the real PostgreSQL server."""
    store_url = new_postgres_database(request.getfixturevalue("postgres_server")) if request.param == "postgresql" else None
    settings = shipped_settings.model_copy(update={"rate_limit_per_minute": 100_000, "state_dir": tmp_path_factory.mktemp("progress-state"),
                                                   "store_url": store_url})
    with serving(settings, embedder) as (url, guide):
        with httpx.Client(base_url=url, timeout=120) as client:
            store = InteractionStore.open(settings)
            yield client, guide, store
            store.close()


def _quiz(client, guide, learner: str, n: int, replies=_right, **start) -> list[dict]:
    """A whole quiz through the API; every reply's response."""
    body = client.post("/api/quiz", json={"learner": learner, "n": n, **start}).json()
    items, responses = course_items(guide), []
    while not body["finished"]:
        item = items[body["question"]["item_id"]]
        body = client.post("/api/quiz/reply", json={"session": body["session"], "reply": replies(item), "learner": learner}).json()
        responses.append(body)
    return responses


def test_api_quiz_is_stored_once_and_the_server_grades_it(progress_server):
    client, guide, store = progress_server
    start = client.post("/api/quiz", json={"learner": "api-q-1", "n": 3, "topic": "model monitoring"}).json()
    item = course_items(guide)[start["question"]["item_id"]]
    wrong = client.post("/api/quiz/reply", json={"session": start["session"], "reply": "I don't know", "learner": "api-q-1"}).json()
    assert wrong["feedback"]["verdict"] == "wrong" and wrong["attempt_id"]
    # Replaying the turn with the right answer, and a forged session that claims full marks, change nothing stored.
    forged = {**start["session"], "results": [{"item_id": item.id, "verdict": "correct", "score": 1.0}]}
    for session in (start["session"], forged):
        again = client.post("/api/quiz/reply", json={"session": session, "reply": _right(item), "learner": "api-q-1"}).json()
        assert again["feedback"]["verdict"] == "correct" and again["attempt_id"] is None
    rows = progress.attempts(store, "api-q-1")
    assert [(r["item_id"], r["verdict"], r["score"], r["reply"], r["channel"], r["lesson"]) for r in rows] == [
        (item.id, "wrong", 0.0, "I don't know", "api", item.source)]
    report = client.get("/api/progress", params={"learner": "api-q-1"}).json()
    assert report["lessons"][0]["lesson"] == item.source and report["lessons"][0]["mastery"] == 0.0
    assert report["review_next"] == [item.source]


def test_unknown_learner_gets_empty_progress_and_a_bad_id_a_one_line_error(progress_server):
    client, _, _ = progress_server
    response = client.get("/api/progress", params={"learner": "never-seen-9"})
    assert response.status_code == 200
    assert response.json() == {"learner": "never-seen-9", "lessons": [], "due": 0, "due_items": [], "review_next": []}
    bad = client.get("/api/progress", params={"learner": "has space"})
    assert bad.status_code == 422 and "learner" in bad.json()["error"]
    review = client.post("/api/quiz", json={"mode": "review"})
    assert review.status_code == 422 and "learner" in review.json()["error"]


def test_review_asks_due_items_first_then_new_items_from_the_weakest_lesson(progress_server):
    client, guide, store = progress_server
    responses = _quiz(client, guide, "reviewer-1", 3, replies=lambda _item: "no idea", lesson="09-model-monitoring.md")
    missed = [r["feedback"]["item_id"] for r in responses if r["feedback"]]
    assert missed and all(progress.utc(c.due) > progress.now() for c in progress.cards(store, "reviewer-1").values())
    # Ten minutes on, FSRS's relearning step has passed: the missed items are due.
    later = progress.now() + timedelta(minutes=11)
    chosen = progress.review_items(guide, store, "reviewer-1", len(set(missed)) + 3, at=later)
    assert [i.id for i in chosen[: len(set(missed))]] == sorted(set(missed), key=lambda i: progress.utc(progress.cards(store, "reviewer-1")[i].due))
    fresh = chosen[len(set(missed)):]
    assert fresh and all(i.source == "09-model-monitoring.md" and i.id not in missed for i in fresh), "new items come from the weakest lesson"
    assert progress.progress(guide, store, "reviewer-1", at=later)["due"] == len(set(missed))
    # Through the API (now, before anything is due): new items from the weakest lesson, none already answered.
    body = client.post("/api/quiz", json={"learner": "reviewer-1", "mode": "review", "n": 2}).json()
    assert body["intro"].startswith("Here is a review") and body["question"]["item_id"] not in missed


def test_twenty_learners_each_doing_ten_questions_at_once(progress_server):
    client, guide, store = progress_server

    def learner(n: int) -> list[tuple[str, str]]:
        replies = (lambda item: _right(item)) if n % 2 else (lambda _item: "no idea")
        with httpx.Client(base_url=str(client.base_url), timeout=120) as own:
            return [(r["feedback"]["item_id"], r["attempt_id"]) for r in _quiz(own, guide, f"crowd-{n}", 10, replies=replies) if r["feedback"]]

    with ThreadPoolExecutor(20) as pool:
        answered = dict(zip(range(20), pool.map(learner, range(20))))
    for n, pairs in answered.items():
        rows = progress.attempts(store, f"crowd-{n}")
        assert len(pairs) >= 10 and all(attempt for _, attempt in pairs), f"learner {n}: every reply stored, a brought-back item's too"
        assert sorted(r["item_id"] for r in rows) == sorted(item_id for item_id, _ in pairs), f"learner {n}: each reply stored exactly once"
        assert sorted(r["attempt_id"] for r in rows) == sorted(a for _, a in pairs)
        assert {r["verdict"] for r in rows} == ({"correct"} if n % 2 else {"wrong"}), f"learner {n}: no one else's replies"
        assert len({r["session_id"] for r in rows}) == 1


def test_widget_and_chat_share_one_learner_id_through_the_cookie_or_the_link(progress_server):
    client, guide, store = progress_server
    base = str(client.base_url)
    widget_id = "a" * 32
    with httpx.Client(base_url=base, timeout=60) as browser:  # a browser that has not opened the chat yet
        first = browser.post("/api/learner", json={"learner": widget_id})
        assert first.json() == {"learner": widget_id, "linked": False}
        assert "course_guide_learner=" + widget_id in first.headers["set-cookie"] and "HttpOnly" in first.headers["set-cookie"]
        assert browser.cookies["course_guide_learner"] == widget_id, "the chat will now know this browser by the widget's id"
        assert browser.post("/api/learner", json={"learner": widget_id}).json() == {"learner": widget_id, "linked": True}
    with httpx.Client(base_url=base, timeout=60) as browser:  # a browser whose chat came first: the widget takes the chat's id
        browser.get("/")
        chat_id = browser.cookies["course_guide_learner"]
        _quiz(client, guide, "b" * 32, 2)
        linked = browser.post("/api/learner", json={"learner": "b" * 32}).json()
        assert linked == {"learner": chat_id, "linked": True}
        assert progress.attempts(store, "b" * 32) == [] and len(progress.attempts(store, chat_id)) >= 2, "the widget's answers moved"
        # The widget's "open the full chat" link, from a course page on another site: the chat takes the widget's id.
        _quiz(client, guide, "c" * 32, 1)
        hop = browser.get("/", params={"learner": "c" * 32}, follow_redirects=False)
        assert hop.status_code == 303 and hop.headers["location"] == "/" and hop.headers["referrer-policy"] == "no-referrer"
        assert browser.cookies["course_guide_learner"] == "c" * 32
        assert progress.attempts(store, chat_id) == [] and len(progress.attempts(store, "c" * 32)) >= 3, "the chat's records moved"
    for bad in ({"learner": "short"}, {"learner": "has space" * 3}, {"learner": 5}, {}):
        response = client.post("/api/learner", json=bad)
        assert response.status_code == 422 and "learner" in response.json()["error"], bad
    assert client.get("/", params={"learner": "<script>"}, follow_redirects=False).status_code == 200, "an unusable id is ignored"


def test_chat_says_reviews_are_due_when_a_plain_quiz_starts(progress_server):
    _, guide, store = progress_server
    recorder = Recorder(guide.settings, store)
    item = next(iter(course_items(guide).values()))
    progress.start_session(store, "due-s", "due-learner-1", T0)
    progress.store_attempt(store, session_id="due-s", learner="due-learner-1", item=item, reply="no idea", score=0.0, verdict="wrong",
                           channel="chat", at=T0)  # missed long ago: due now
    reply = quiz_turn(guide, "quiz me", [], recorder, "due-learner-1")
    assert reply.startswith("1 question is due for review. Say “review” to go over them.") and "Question 1 of" in reply
    assert "due for review" not in quiz_turn(guide, "quiz me", [], recorder, "never-quizzed-learner")


def test_a_learner_disputes_a_grade_the_grade_stays_and_the_instructor_page_lists_it(progress_server):
    client, guide, store = progress_server
    start = client.post("/api/quiz", json={"learner": "disputer-1", "n": 2, "topic": "model monitoring"}).json()
    wrong = client.post("/api/quiz/reply", json={"session": start["session"], "reply": "my own words", "learner": "disputer-1"}).json()
    attempt = wrong["attempt_id"]
    assert wrong["feedback"]["verdict"] != "correct" and attempt
    disputed = client.post("/api/quiz/dispute", json={"attempt_id": attempt, "learner": "disputer-1", "comment": "<b>I said it</b>"})
    assert disputed.status_code == 200 and disputed.json() == {"attempt_id": attempt, "disputed": True}
    (row,) = progress.attempts(store, "disputer-1")
    assert row["disputed"] and row["dispute_comment"] == "<b>I said it</b>" and row["verdict"] == wrong["feedback"]["verdict"] \
        and row["score"] == wrong["feedback"]["score"], "the dispute is noted; the grade stays"
    assert client.post("/api/quiz/dispute", json={"attempt_id": attempt, "learner": "someone-else"}).status_code == 404, \
        "another learner cannot dispute it"
    unknown = client.post("/api/quiz/dispute", json={"attempt_id": "5f0c2a4e-1d2b-4c3a-9e8f-7a6b5c4d3e2f", "learner": "disputer-1"})
    assert unknown.status_code == 404 and "attempt_id your graded reply carried" in unknown.json()["error"]
    for bad in ({"attempt_id": "not-a-uuid", "learner": "disputer-1"}, {"learner": "disputer-1"}, {"attempt_id": attempt},
                {"attempt_id": attempt, "learner": "disputer-1", "comment": "x" * 1001}):
        response = client.post("/api/quiz/dispute", json=bad)
        assert response.status_code == 422 and response.json()["error"], bad
    page = render_quiz_page(quiz_summary(store, course_items(guide), None), "MLOps", {})
    assert "Disputed gradings" in page and "&lt;b&gt;I said it&lt;/b&gt;" in page and "“my own words”" in page, "learner text as text"


def test_chat_quiz_is_stored_under_the_cookie_and_shows_progress(progress_server):
    _, guide, store = progress_server
    recorder = Recorder(guide.settings, store)
    history: list[dict] = []
    reply = quiz_turn(guide, "quiz me on model monitoring", history, recorder, "chat-learner-1")
    items = course_items(guide)
    for _ in range(5):
        history.append({"role": "assistant", "content": reply})
        session = session_from_history(history)
        if session is None:
            break
        history.append({"role": "user", "content": _right(items[session.current])})
        reply = quiz_turn(guide, history[-1]["content"], history[:-1], recorder, "chat-learner-1")
    rows = progress.attempts(store, "chat-learner-1")
    assert len(rows) == 5 and {r["channel"] for r in rows} == {"chat"} and {r["verdict"] for r in rows} == {"correct"}
    assert "No questions are due for review." in reply
    view = quiz_turn(guide, "Your progress", [], recorder, "chat-learner-1")
    assert view.startswith("**Your progress**") and "| 100% |" in view and "(/course/" in view
