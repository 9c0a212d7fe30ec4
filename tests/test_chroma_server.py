"""A shared index on a real Chroma server (`chroma run`): ingest into it, and answer through two app processes at once."""
from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from app.cli.main import main
from core.chroma_store import COLLECTION_PREFIX, ChromaServerStore
from core.index import IndexReader, open_store
from core.settings import OFFLINE_ENVIRONMENT, Settings
from core.store import IndexUnusableError
from ingest.pipeline import IngestError
from tests.conftest import BIN, free_port, running, start, wait_until_up

QUESTIONS = ["What is a refractor?", "How do stars form?", "What is a reflector telescope?", "What are spiral galaxies?"]


@pytest.fixture(scope="module")
def served_course(tmp_path_factory, chroma_server, embedder):
    """The fixture course with its PDF, ingested into the Chroma server."""
    from ingest.pipeline import ingest_corpus
    from tests.conftest import FIXTURE_COURSE, GALAXY_PAGES, build_pdf

    course = tmp_path_factory.mktemp("server-course") / "course"
    shutil.copytree(FIXTURE_COURSE, course)
    build_pdf(course / "04-galaxies.pdf", GALAXY_PAGES)
    host, port = chroma_server
    settings = Settings(corpus_dir=course, db_dir=course.parent / "unused-index", chroma_host=host, chroma_port=port)
    report = ingest_corpus(settings, lambda: embedder)
    assert report.published and report.chunks > 5
    assert not settings.db_dir.exists(), "server mode writes nothing to the index folder"
    return settings


def test_ingest_into_the_server_and_answer_through_two_app_processes_at_once(served_course, tmp_path):
    settings = served_course
    ports = [free_port(), free_port()]
    env = {**os.environ, **OFFLINE_ENVIRONMENT, "COURSE_GUIDE_CHROMA_HOST": settings.chroma_host,
           "COURSE_GUIDE_CHROMA_PORT": str(settings.chroma_port), "COURSE_GUIDE_DB_DIR": str(tmp_path / "no-local-index")}
    serve = [str(BIN / "course-guide"), "serve", "--host", "127.0.0.1", "--port"]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    # Both replicas start at once (each loads the model), like replicas behind a load balancer.
    first = start([*serve, str(ports[0])], env, tmp_path)
    try:
        with running([*serve, str(ports[1])], env, tmp_path, urls[1] + "/api/health", "second replica"):
            wait_until_up(urls[0] + "/api/health", first, "first replica")
            healths = [httpx.get(url + "/api/health").json() for url in urls]
            generation = IndexReader(open_store(settings)).refresh().generation
            for health in healths:
                assert health["index_loaded"] and health["generation"] == generation
                assert health["store"] == f"chroma server {settings.chroma_host}:{settings.chroma_port}"

            def ask(job: tuple[str, str]) -> tuple[str, str, dict]:
                url, question = job
                response = httpx.post(url + "/api/ask", json={"question": question}, timeout=60)
                assert response.status_code == 200, response.text
                return url, question, response.json()

            jobs = [(url, question) for question in QUESTIONS for url in urls] * 2
            with ThreadPoolExecutor(max_workers=8) as pool:
                results = list(pool.map(ask, jobs))
            by_question: dict[str, list[dict]] = {}
            for _, question, body in results:
                by_question.setdefault(question, []).append(body)
            for question, bodies in by_question.items():
                cited = {tuple(c["chunk_id"] for c in body["citations"]) for body in bodies}
                assert len(cited) == 1 and next(iter(cited)), f"both replicas cite the same passages for {question!r}"
                assert len({body["answer"] for body in bodies}) == 1
            refractor = by_question["What is a refractor?"][0]
            assert refractor["citations"][0]["source"] == "01-telescopes.md" and not refractor["refused"]
            # Citation links open on either replica: the lesson view reads the course folder named in the shared manifest.
            path = "/course/" + refractor["citations"][0]["url"].split("/course/")[1].split("#")[0]
            assert [httpx.get(url + path).status_code for url in urls] == [200, 200]
    finally:
        first.terminate()
        first.wait(timeout=20)


def test_reingest_publishes_a_new_generation_that_readers_follow(served_course, embedder):
    from ingest.pipeline import ingest_corpus

    settings = served_course
    store = open_store(settings)
    reader = IndexReader(store)
    before = reader.refresh().generation
    assert [c.text for c in reader.chunks() if "Dobsonian" in c.text] == []
    lesson = Path(settings.corpus_dir) / "01-telescopes.md"
    lesson.write_text(lesson.read_text() + "\n## Dobsonians\n\nA Dobsonian is a reflector on a simple rocking mount.\n")
    report = ingest_corpus(settings, lambda: embedder)
    assert report.published and report.generation != before and report.unchanged > 0 and report.embedded <= 3
    assert reader.refresh().generation == report.generation, "a running reader moves to the new generation"
    assert any("Dobsonian" in c.text for c in reader.chunks())
    generations = sorted(c.name for c in store.client().list_collections() if c.name.startswith(COLLECTION_PREFIX + "gen-"))
    assert generations == sorted(COLLECTION_PREFIX + g for g in (before, report.generation)), "the live one and the one before"
    third = ingest_corpus(settings, lambda: embedder)
    assert not third.published and third.generation == report.generation, "nothing changed: nothing written"


def test_a_second_ingest_waits_for_the_lock(served_course, embedder):
    from ingest.pipeline import ingest_corpus

    store = open_store(served_course)
    with store.ingest_lock():
        with pytest.raises(IngestError, match="Another ingest .* is writing the index on chroma server"):
            ingest_corpus(served_course, lambda: embedder)
    assert ingest_corpus(served_course, lambda: embedder).files == 4, "the lock is released afterwards"


def test_an_unreachable_server_is_a_one_line_error(tmp_path, embedder, course):
    from ingest.pipeline import ingest_corpus

    settings = Settings(corpus_dir=course, db_dir=tmp_path / "index", chroma_host="127.0.0.1", chroma_port=free_port())
    with pytest.raises(IngestError, match="Cannot reach the Chroma server at 127.0.0.1"):
        ingest_corpus(settings, lambda: embedder)
    env = {"COURSE_GUIDE_CHROMA_HOST": "127.0.0.1", "COURSE_GUIDE_CHROMA_PORT": str(settings.chroma_port)}
    result = CliRunner().invoke(main, ["ask", "What is a refractor?"], env=env)
    assert result.exit_code == 1 and "Cannot reach the Chroma server" in result.output and "Traceback" not in result.output
    with pytest.raises(IndexUnusableError, match="Cannot reach the Chroma server"):
        IndexReader(ChromaServerStore("127.0.0.1", settings.chroma_port)).refresh()


def test_eval_and_eval_generate_read_the_index_on_the_chroma_server(served_course, tmp_path):
    """Regression: `course-guide eval` once opened the local index folder and ignored Chroma server mode."""
    settings = served_course
    env = {"COURSE_GUIDE_CHROMA_HOST": settings.chroma_host, "COURSE_GUIDE_CHROMA_PORT": str(settings.chroma_port),
           "COURSE_GUIDE_DB_DIR": str(tmp_path / "no-local-index")}
    dataset = Path(__file__).parent / "fixtures" / "eval" / "fixture.jsonl"
    run = CliRunner().invoke(main, ["eval", "--dataset", str(dataset), "--out", str(tmp_path / "run"), "--json"], env=env)
    assert run.exit_code == 0, run.output
    summary = json.loads(run.output)
    assert summary["metrics"]["hit_at_5"]["n"] > 0 and summary["metrics"]["hit_at_5"]["value"] > 0.5
    assert not (tmp_path / "no-local-index").exists()
    made = CliRunner().invoke(main, ["eval", "generate", "--out", str(tmp_path / "synthetic.jsonl")], env=env)
    assert made.exit_code == 0, made.output
    assert (tmp_path / "synthetic.jsonl").read_text().count("\n") > 3


def test_two_registered_courses_share_one_chroma_server_and_removing_one_leaves_the_default(served_course, tmp_path, embedder):
    """Each course's collections are its own (course.NAME.*); removing a course deletes those only."""
    from ingest.pipeline import ingest_corpus

    host, port = served_course.chroma_host, served_course.chroma_port
    default_generation = IndexReader(open_store(served_course)).refresh().generation
    folders = {}
    for name, text in (("astro", "# Comets\n\nA comet is an icy body that grows a tail near the Sun.\n"),
                       ("garden", "# Roses\n\nA rose is a woody flowering plant that needs pruning in spring.\n")):
        folders[name] = tmp_path / name
        folders[name].mkdir()
        (folders[name] / "01-lesson.md").write_text(text)
        course = served_course.model_copy(update={"course": name, "corpus_dir": folders[name]})
        assert ingest_corpus(course, lambda: embedder).published
    astro = served_course.model_copy(update={"course": "astro", "corpus_dir": folders["astro"]})
    garden = served_course.model_copy(update={"course": "garden", "corpus_dir": folders["garden"]})
    assert all("comet" in c.text.lower() for c in IndexReader(open_store(astro)).chunks())
    assert all("rose" in c.text.lower() for c in IndexReader(open_store(garden)).chunks())
    names = [c.name for c in ChromaServerStore(host, port).client().list_collections()]
    assert any(n.startswith("course.astro.gen-") for n in names) and "course.garden.manifest" in names
    open_store(astro).remove_all()
    names = [c.name for c in ChromaServerStore(host, port).client().list_collections()]
    assert not any(n.startswith("course.astro.") for n in names) and "course.garden.manifest" in names
    with pytest.raises(IndexUnusableError):
        IndexReader(open_store(astro)).refresh()
    assert IndexReader(open_store(served_course)).refresh().generation == default_generation
    assert IndexReader(open_store(garden)).refresh().chunk_count == 1
