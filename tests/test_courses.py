"""Many courses in one deployment: the registry, per-course indexes and learner records, /c/NAME/ apps, the course list
at /, API calls naming a course, and courses added, re-ingested and removed while the server runs."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from app.cli.main import main
from app.courses import CourseError, UnknownCourseError, add_course, course_settings, get_course, list_courses, update_course
from app.engine.guide import open_guide
from app.insights import progress
from app.insights.store import InteractionStore, UnknownAnswerError
from app.web.server import create_deployment, free_loopback_port, serving_in_thread
from core.quiz import QuizItem
from core.settings import Settings
from ingest.pipeline import ingest_corpus

# Two courses that share many words (light, energy, cycle, turns ... into), so only per-course retrieval keeps them apart.
ASTRO = {
    "01-stars.md": "# Stars\n\n## How stars shine\n\nStars shine because nuclear fusion in the core turns hydrogen into helium "
                   "and releases energy as light. A star is a ball of hot plasma held together by its own gravity.\n\n"
                   "## The life cycle of a star\n\nA star is born in a nebula, spends most of its life on the main sequence, "
                   "and ends as a white dwarf, a neutron star or a black hole, depending on its mass.\n",
    "02-planets.md": "# Planets\n\n## What a planet is\n\nA planet is a body that orbits a star, is round under its own gravity "
                     "and has cleared its orbit of other bodies. Light from the star warms the planet.\n",
}
GARDEN = {
    "01-plants.md": "# Plants\n\n## How plants grow\n\nPlants grow because photosynthesis in the leaves turns light, water and "
                    "carbon dioxide into sugar and releases oxygen. Chlorophyll is the green pigment that captures the light energy.\n\n"
                    "## The life cycle of a plant\n\nA plant starts as a seed, germinates, grows leaves, flowers, and makes new seeds.\n",
    "02-soil.md": "# Soil\n\n## What compost is\n\nCompost is decayed organic matter that feeds the soil. Worms turn leaves "
                  "into compost and release nutrients for the next cycle of growth.\n",
}


def quiz_file(question: str, answer: str, lesson: str, section: str) -> str:
    # The same item id in both courses: each course's cards and attempts must still be its own.
    return ("items:\n  - id: shared-item\n    type: short_answer\n"
            f"    question: {question}\n    answer: {answer}\n    explanation: The lesson says so.\n    lesson: {lesson}\n"
            f"    section: {section}\n")


def write_course(folder: Path, lessons: dict[str, str], quiz: str) -> Path:
    folder.mkdir(parents=True)
    for name, text in lessons.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "quizzes").mkdir()
    (folder / "quizzes" / "quiz.yaml").write_text(quiz, encoding="utf-8")
    return folder


@pytest.fixture
def school(tmp_path: Path, embedder):
    """A deployment with courses astro and garden registered and ingested, and no default course index."""
    base = Settings(corpus_dir=tmp_path / "no-default", db_dir=tmp_path / "index", state_dir=tmp_path / "state",
                    instructor_token="deployment-admin-token-0123456789", allowed_origins=["https://school.example.edu"])
    astro = write_course(tmp_path / "astro", ASTRO, quiz_file("What does fusion in a star's core turn hydrogen into?",
                                                              "Helium", "01-stars.md", "How stars shine"))
    garden = write_course(tmp_path / "garden", GARDEN, quiz_file("What does photosynthesis turn light, water and carbon dioxide into?",
                                                                 "Sugar", "01-plants.md", "How plants grow"))
    store = InteractionStore.open(base)
    add_course(store, "astro", astro, title="Astronomy 101", allowed_origins=["https://astro.example.edu"],
               instructor_token="astro-teacher-token-0123456789")
    add_course(store, "garden", garden, title="Gardening 101", allowed_origins=["https://garden.example.edu"],
               instructor_token="garden-teacher-token-0123456789")
    for name in ("astro", "garden"):
        ingest_corpus(course_settings(base, get_course(store, name)), lambda: embedder)
    store.close()
    return base


@pytest.fixture
def served(school: Settings, embedder):
    port = free_loopback_port()
    settings = school.model_copy(update={"port": port})
    guide = open_guide(settings, embedder, require_index=False)
    with serving_in_thread(create_deployment(guide, chat=False), port) as url:
        yield url, settings


# ------------------------------------------------------------------ the registry


@pytest.mark.parametrize("name", ["Stats", "stats--101", "-stats", "default", "x" * 41, "stats 101", "../etc"])
def test_a_course_name_that_cannot_be_a_path_is_refused(tmp_path, name):
    store = InteractionStore.open(Settings(state_dir=tmp_path / "state", db_dir=tmp_path / "index"))
    (tmp_path / "c").mkdir()
    with pytest.raises(CourseError, match="cannot name a course"):
        add_course(store, name, tmp_path / "c")
    assert list_courses(store) == []


def test_registry_errors_say_what_to_do_and_keep_what_is_stored(tmp_path):
    store = InteractionStore.open(Settings(state_dir=tmp_path / "state", db_dir=tmp_path / "index"))
    (tmp_path / "c").mkdir()
    with pytest.raises(CourseError, match="does not exist"):
        add_course(store, "stats", tmp_path / "missing")
    with pytest.raises(CourseError, match="is not an origin"):
        add_course(store, "stats", tmp_path / "c", allowed_origins=["course.example.edu/path"])
    first = add_course(store, "stats", tmp_path / "c", title="Statistics")
    with pytest.raises(CourseError, match="registered already"):
        add_course(store, "stats", tmp_path / "c", title="Another")
    with pytest.raises(UnknownCourseError, match="course add nope"):
        update_course(store, "nope", title="x")
    assert get_course(store, "stats").title == "Statistics" and get_course(store, "stats").created_at == first.created_at


def test_each_courses_learner_records_stay_its_own(store_url):
    """The same learner and the same item id in two courses: attempts, cards, questions and votes never cross."""
    store = InteractionStore(store_url)
    astro, garden = store.for_course("astro"), store.for_course("garden")
    item = QuizItem(id="shared-item", type="short_answer", question="Q?", answer="A", explanation="", source="01-lesson.md", section="S",
                    chunk_id="c1", origin="instructor")
    for view, verdict in ((astro, "correct"), (garden, "wrong")):
        progress.start_session(view, f"session-{view.course_id}", "learner-1")
        assert progress.store_attempt(view, session_id=f"session-{view.course_id}", learner="learner-1", item=item, reply="A",
                                      score=1.0 if verdict == "correct" else 0.0, verdict=verdict, channel="api")
    # A session started in astro stores nothing in garden.
    assert progress.store_attempt(garden, session_id="session-astro", learner="learner-1", item=item, reply="A", score=1.0,
                                  verdict="correct", channel="api", presentation=0) is None
    assert [a["verdict"] for a in progress.attempts(astro)] == ["correct"]
    assert [a["verdict"] for a in progress.attempts(garden)] == ["wrong"]
    assert progress.cards(astro, "learner-1")["shared-item"].reviews == 1
    assert progress.cards(garden, "learner-1")["shared-item"].reviews == 1
    assert progress.attempts(store) == []  # the default course has none
    astro.add({"answer_id": "00000000-0000-0000-0000-00000000000a", "asked_at": progress.now(), "course": "Astronomy",
               "channel": "api", "lesson": None, "question": "How do stars shine?", "standalone": "How do stars shine?",
               "answer": "By fusion.", "refused": False, "scope": None, "sources": [], "nearest": [], "answerer": "extractive",
               "latency_ms": 1.0, "learner": "learner-1"})
    assert astro.count() == 1 and garden.count() == 0 and store.count() == 0
    with pytest.raises(UnknownAnswerError):
        garden.vote("00000000-0000-0000-0000-00000000000a", False, "not mine to vote on")
    assert garden.questions()[1] == 0
    assert garden.forget_course() == 0 and progress.attempts(garden) == [] and progress.cards(garden, "learner-1") == {}
    assert [a["verdict"] for a in progress.attempts(astro)] == ["correct"] and astro.count() == 1
    store.close()


def test_migration_0006_files_earlier_records_under_the_default_course_and_goes_back(store_url):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    from app.insights.store import MIGRATIONS

    store = InteractionStore(store_url)
    item = QuizItem(id="i1", type="short_answer", question="Q?", answer="A", explanation="", source="l.md", section="S", chunk_id="c", origin="instructor")
    progress.start_session(store, "s1", "learner-1")
    progress.store_attempt(store, session_id="s1", learner="learner-1", item=item, reply="A", score=1.0, verdict="correct", channel="api")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
    assert "courses" not in inspect(store.engine).get_table_names()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    again = InteractionStore(store_url)
    assert [a["item_id"] for a in progress.attempts(again)] == ["i1"] and progress.cards(again, "learner-1")["i1"].reviews == 1
    assert progress.attempts(again.for_course("astro")) == []
    store.close()
    again.close()


# ------------------------------------------------------------------ one server, many courses


def ask(url: str, question: str, **body) -> httpx.Response:
    return httpx.post(f"{url}/api/ask", json={"question": question, **body}, timeout=60)


def test_front_page_lists_the_courses_and_each_answers_from_its_own_lessons_only(served):
    url, _settings = served
    front = httpx.get(url + "/")
    assert front.status_code == 200 and "Astronomy 101" in front.text and "Gardening 101" in front.text
    assert 'href="/c/astro/"' in front.text and "2 lessons" in front.text

    stars = ask(url, "How do stars shine?", course="astro").json()
    assert not stars["refused"] and "fusion" in stars["answer"]
    assert {c["source"] for c in stars["citations"]} <= set(ASTRO)
    assert all("/c/astro/course/" in c["url"] for c in stars["citations"])
    plants = httpx.post(url + "/c/garden/api/ask", json={"question": "How do plants grow?"}, timeout=60).json()
    assert not plants["refused"] and "photosynthesis" in plants["answer"] and {c["source"] for c in plants["citations"]} <= set(GARDEN)
    # Course questions asked of the other course are refused there, never answered from the other course's lessons.
    crossed = ask(url, "How do stars shine?", course="garden").json()
    assert crossed["refused"] and all(c["source"] in GARDEN for c in crossed["citations"])
    crossed = ask(url, "What is chlorophyll?", course="astro").json()
    assert crossed["refused"] and "chlorophyll" not in crossed["answer"].lower().split("closest")[0]


def test_a_course_that_is_not_registered_or_does_not_match_its_path_gets_a_clear_error(served):
    url, _settings = served
    unknown = ask(url, "How do stars shine?", course="physics")
    assert unknown.status_code == 404 and "no course called 'physics'" in unknown.json()["error"]
    assert httpx.get(url + "/c/physics/").status_code == 404
    mismatch = httpx.post(url + "/c/astro/api/ask", json={"question": "How do plants grow?", "course": "garden"})
    assert mismatch.status_code == 422 and "names course 'garden'" in mismatch.json()["error"]
    badly_named = ask(url, "How do stars shine?", course="Not A Name")
    assert badly_named.status_code == 404
    assert httpx.get(url + "/c/astro").headers["location"] == "/c/astro/"


def test_lesson_pages_live_under_the_course_path_and_show_only_its_lessons(served):
    url, _settings = served
    contents = httpx.get(url + "/c/astro/course/")
    assert contents.status_code == 200 and 'href="/c/astro/course/01-stars.md"' in contents.text
    page = httpx.get(url + "/c/astro/course/01-stars.md")
    assert page.status_code == 200 and "nuclear fusion" in page.text and 'href="/c/astro/course/"' in page.text
    assert httpx.get(url + "/c/astro/course/01-plants.md").status_code == 404
    assert httpx.get(url + "/c/garden/course/01-plants.md").status_code == 200


def test_quiz_items_and_learner_progress_belong_to_one_course(served):
    url, settings = served
    whole = httpx.post(url + "/api/quiz", json={"course": "garden", "n": 20}, timeout=60).json()
    assert whole["question"]["lesson"] in ("Plants", "Soil") and whole["question"]["total"] >= 2  # garden's own bank
    started = httpx.post(url + "/api/quiz", json={"course": "astro", "learner": "learner-abcdefghijklmnop", "n": 1,
                                                  "topic": "how stars shine"}, timeout=60)
    assert started.status_code == 200, started.text
    turn = started.json()
    assert turn["question"]["item_id"] == "shared-item" and turn["question"]["question"].startswith("What does fusion")
    reply = httpx.post(url + "/api/quiz/reply", json={"course": "astro", "session": turn["session"], "reply": "Helium",
                                                      "learner": "learner-abcdefghijklmnop"}, timeout=60)
    assert reply.status_code == 200 and reply.json()["feedback"]["verdict"] == "correct"
    mine = httpx.get(url + "/api/progress", params={"course": "astro", "learner": "learner-abcdefghijklmnop"}).json()
    other = httpx.get(url + "/c/garden/api/progress", params={"learner": "learner-abcdefghijklmnop"}).json()
    assert [lesson["lesson"] for lesson in mine["lessons"]] == ["01-stars.md"] and other["lessons"] == []
    assert mine["lessons"][0]["url"] == "/c/astro/course/01-stars.md"
    # The astro session's state, replayed against garden, stores nothing there.
    httpx.post(url + "/c/garden/api/quiz/reply", json={"session": turn["session"], "reply": "Sugar", "learner": "learner-abcdefghijklmnop"})
    store = InteractionStore.open(settings)
    assert [a["lesson"] for a in progress.attempts(store.for_course("astro"))] == ["01-stars.md"]
    assert progress.attempts(store.for_course("garden")) == []
    store.close()


def test_each_course_has_its_own_instructor_token_and_sites(served):
    url, _settings = served
    ask(url, "How do stars shine?", course="astro")
    ask(url, "How do plants grow?", course="garden")

    def questions(course: str, token: str) -> httpx.Response:
        return httpx.get(f"{url}/c/{course}/api/instructor/questions", headers={"Authorization": f"Bearer {token}"})

    astro = questions("astro", "astro-teacher-token-0123456789")
    assert astro.status_code == 200 and [q["question"] for q in astro.json()["questions"]] == ["How do stars shine?"]
    assert questions("garden", "astro-teacher-token-0123456789").status_code == 401
    assert [q["question"] for q in questions("garden", "deployment-admin-token-0123456789").json()["questions"]] == ["How do plants grow?"]
    sign_in = httpx.post(url + "/c/astro/instructor/sign-in", data={"token": "astro-teacher-token-0123456789"})
    assert sign_in.status_code == 303 and sign_in.headers["location"] == "/c/astro/instructor"
    assert "path=/c/astro" in sign_in.headers["set-cookie"].lower()

    def from_site(course: str, origin: str) -> int:
        return httpx.post(f"{url}/c/{course}/api/ask", json={"question": "How do stars shine?"}, headers={"Origin": origin}).status_code

    assert from_site("astro", "https://astro.example.edu") == 200
    assert from_site("astro", "https://garden.example.edu") == 403
    assert from_site("garden", "https://school.example.edu") == 200  # the deployment's own sites may use every course


def test_courses_are_added_reingested_and_removed_while_the_server_answers(served, tmp_path, embedder):
    url, settings = served
    store = InteractionStore.open(settings)
    third = write_course(tmp_path / "music", {"01-scales.md": "# Scales\n\n## What a scale is\n\nA scale is a set of notes "
                                              "ordered by pitch; the major scale has seven notes.\n"}, "items: []\n")
    add_course(store, "music", third, title="Music 101")
    ingest_corpus(course_settings(settings, get_course(store, "music")), lambda: embedder)
    assert not ask(url, "What is a scale?", course="music").json()["refused"]

    answers: list[httpx.Response] = []
    stop = threading.Event()

    def keep_asking() -> None:
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                answers.append(client.post(url + "/api/ask", json={"question": "How do stars shine?", "course": "astro"}))

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        garden = get_course(store, "garden")
        (Path(garden.corpus_dir) / "03-bees.md").write_text(
            "# Bees\n\n## Why bees matter\n\nBees pollinate flowers: they carry pollen from one flower to the next, so the plant "
            "can make seeds.\n", encoding="utf-8")
        ingest_corpus(course_settings(settings, garden), lambda: embedder)
        removed = CliRunner().invoke(main, ["course", "remove", "music", "--yes", "--json", "--db", str(settings.db_dir)],
                                     env={"COURSE_GUIDE_STATE_DIR": str(settings.state_dir)})
        assert removed.exit_code == 0, removed.output
        time.sleep(1.0)
    finally:
        stop.set()
        asker.join()
    assert answers and all(r.status_code == 200 and "fusion" in r.json()["answer"] for r in answers)
    bees = ask(url, "Why do bees matter?", course="garden").json()
    assert not bees["refused"] and any(c["source"] == "03-bees.md" for c in bees["citations"])
    gone = ask(url, "What is a scale?", course="music")
    assert gone.status_code == 404 and not (settings.db_dir / "courses" / "music").exists()
    assert "Music 101" not in httpx.get(url + "/").text
    store.close()


# ------------------------------------------------------------------ the commands


def test_course_commands_register_ingest_ask_and_remove(tmp_path, embedder):
    env = {"COURSE_GUIDE_STATE_DIR": str(tmp_path / "state"), "COURSE_GUIDE_DB_DIR": str(tmp_path / "index")}
    folder = write_course(tmp_path / "astro", ASTRO, "items: []\n")
    token = tmp_path / "token.txt"
    token.write_text("astro-teacher-token-0123456789\n")
    runner = CliRunner()
    added = runner.invoke(main, ["course", "add", "astro", "--corpus", str(folder), "--title", "Astronomy 101", "--origin",
                                 "https://astro.example.edu", "--instructor-token-file", str(token), "--json"], env=env)
    assert added.exit_code == 0, added.output
    registered = json.loads(added.output.splitlines()[0])
    assert registered["name"] == "astro" and registered["has_instructor_token"] and "instructor_token_sha256" not in registered
    assert json.loads(added.output.splitlines()[-1])["added"] > 0
    assert (tmp_path / "index" / "courses" / "astro" / "manifest.json").exists()

    answered = runner.invoke(main, ["ask", "--course", "astro", "--json", "How do stars shine?"], env=env)
    assert answered.exit_code == 0 and not json.loads(answered.output)["refused"]
    quiz = runner.invoke(main, ["quiz", "--course", "astro", "--json", "--n", "50"], env=env)
    assert quiz.exit_code == 0 and {json.loads(line)["source"] for line in quiz.output.splitlines()} <= set(ASTRO)
    report = runner.invoke(main, ["insights", "--course", "astro", "--json"], env=env)
    assert report.exit_code == 0 and json.loads(report.output)["questions"] == 0
    listed = json.loads(runner.invoke(main, ["course", "list", "--json"], env=env).output)
    assert [c["name"] for c in listed["courses"]] == ["astro"]
    duplicate = runner.invoke(main, ["course", "add", "astro", "--corpus", str(folder)], env=env)
    assert duplicate.exit_code == 1 and "registered already" in duplicate.output and "Traceback" not in duplicate.output
    unknown = runner.invoke(main, ["ask", "--course", "physics", "How do stars shine?"], env=env)
    assert unknown.exit_code == 1 and "no course called 'physics'" in unknown.output
    short_token = tmp_path / "short.txt"
    short_token.write_text("abc")
    refused = runner.invoke(main, ["course", "update", "astro", "--instructor-token-file", str(short_token)], env=env)
    assert refused.exit_code == 1 and "shorter than 16" in refused.output

    removed = runner.invoke(main, ["course", "remove", "astro", "--yes", "--json"], env=env)
    assert removed.exit_code == 0 and json.loads(removed.output)["removed"] == "astro"
    assert not (tmp_path / "index" / "courses" / "astro").exists() and folder.exists()  # the documents stay
    assert json.loads(runner.invoke(main, ["course", "list", "--json"], env=env).output)["courses"] == []


def test_a_platform_launch_into_one_course_quizzes_that_course_and_cannot_act_in_another(served):
    """LTI 1.3 into /c/astro/: the launch, a quiz of astro's items, its score sent once, and the launch token refused
    by garden's API (a launch is for one course)."""
    from app.lti import registry
    from tests.fake_lti_platform import FakePlatform, LaunchPlan
    from tests.test_lti import Site, launched, scores_for, wait_for

    url, settings = served
    platform = FakePlatform().start()
    try:
        tool = f"{url}/c/astro"
        platform.connect(tool)
        store = InteractionStore.open(settings)
        registry.register(store, **platform.registration())
        platform.plans["stars"] = LaunchPlan(sub="learner-star", resource_link_id="link-stars", resource_title="Stars quiz",
                                             custom={"lesson": "stars"})
        site = Site(platform, tool, store, open_guide(settings, None, require_index=False))
        token = launched(site, "stars")
        headers = {"X-Course-Guide-Launch": token}
        turn = httpx.post(f"{tool}/api/quiz", json={"n": 1, "lesson": "stars", "topic": "how stars shine", "channel": "widget"},
                          headers=headers, timeout=60).json()
        assert turn["question"]["item_id"] == "shared-item"
        done = httpx.post(f"{tool}/api/quiz/reply", json={"session": turn["session"], "reply": "Helium", "channel": "widget"},
                          headers=headers, timeout=60).json()
        assert done["finished"] and done["feedback"]["verdict"] == "correct"
        wait_for(lambda: len(scores_for(site, "learner-star")) == 1)
        assert scores_for(site, "learner-star")[0]["scoreGiven"] == 1
        elsewhere = httpx.post(f"{url}/c/garden/api/ask", json={"question": "How do plants grow?"}, headers=headers, timeout=60)
        assert elsewhere.status_code == 401
        assert [a["lesson"] for a in progress.attempts(store.for_course("astro"))] == ["01-stars.md"]
        store.close()
    finally:
        platform.stop()


def test_one_rate_limit_counts_a_client_across_every_course(school, embedder):
    port = free_loopback_port()
    settings = school.model_copy(update={"port": port, "rate_limit_per_minute": 4})
    with serving_in_thread(create_deployment(open_guide(settings, embedder, require_index=False), chat=False), port) as url:
        codes = [httpx.post(f"{url}/c/{course}/api/ask",
                            json={"question": "What is a star?"}, timeout=60).status_code
                 for course in ("astro", "garden", "astro", "garden", "astro")]
    assert codes == [200, 200, 200, 200, 429]
