"""The real server on a free loopback port: the Gradio chat through gradio_client, and the lesson view over HTTP."""
from __future__ import annotations

import os
import re
import urllib.error
import urllib.request

import pytest
from gradio_client import Client

from app.engine.answer import answer_question
from core.settings import Settings
from tests.conftest import serving


def fetch(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers.get("content-type", ""), response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("content-type", ""), err.read()


@pytest.fixture(scope="module")
def chat(shipped_server):
    url, _ = shipped_server
    return Client(url, verbose=False)


def test_gradio_chat_gives_a_cited_answer(chat, shipped_server):
    url, _ = shipped_server
    reply = chat.predict("What is a model registry?", api_name="/ask")
    links = re.findall(r"\[\[(\d)\]\]\((/course/[^)]+)\)", reply)
    assert links and links[0][0] == "1", reply
    assert "**Sources**" in reply and "1. [Model Registry and Packaging" in reply
    status, kind, body = fetch(url + links[0][1])
    anchor = links[0][1].split("#")[1]
    assert status == 200 and kind.startswith("text/html") and f'id="{anchor}"'.encode() in body


def test_gradio_chat_streams(shipped_server):
    url, _ = shipped_server
    job = Client(url, verbose=False).submit("How does a canary release work?", api_name="/ask")
    final = job.result(timeout=60)
    updates = job.outputs()
    assert len(updates) > 2, "the answer arrives in pieces"
    assert all(final.startswith(update) for update in updates), "each update extends the last"


def test_gradio_chat_refuses_and_links_nearest_topics(chat):
    reply = chat.predict("What is the capital of Australia?", api_name="/ask")
    assert "don't cover" in reply and "**Closest topics in the course**" in reply
    assert re.search(r"- \[.+\]\(/course/", reply)


@pytest.mark.parametrize("question, message", [("", "Please type a question"), ("y" * 5000, "5000 characters long")],
                         ids=["empty", "too-long"])
def test_gradio_chat_unusable_question_gets_a_message(chat, question, message):
    assert message in chat.predict(question, api_name="/ask")


def test_every_citation_link_resolves_through_the_app(shipped_server):
    url, guide = shipped_server
    questions = ["What is experiment tracking?", "How should a team choose between open source and managed MLOps tools?",
                 "What is an online store in a feature store?", "What is the Population Stability Index?"]
    seen_pdf = seen_text = False
    for question in questions:
        for citation in answer_question(guide, question).citations:
            assert citation.url.startswith(url + "/course/")
            path, _, fragment = citation.url.partition("#")
            status, kind, body = fetch(path)
            assert status == 200, citation.url
            if citation.page is not None:
                assert kind == "application/pdf" and body.startswith(b"%PDF") and fragment == f"page={citation.page}"
                seen_pdf = True
            else:
                assert f'id="{fragment}"'.encode() in body, f"{citation.url} has no such anchor"
                seen_text = True
    assert seen_pdf and seen_text


def test_lesson_view_renders_markdown_text_and_drops_raw_html(shipped_server):
    url, _ = shipped_server
    status, _, body = fetch(url + "/course/01-introduction-to-mlops.md")
    page = body.decode()
    assert status == 200 and "<title>Introduction to MLOps · Course Guide</title>" in page
    assert '<h2 id="learning-objectives">Learning Objectives</h2>' in page
    assert "<iframe" not in page, "raw HTML from a lesson never reaches the page"
    status, _, body = fetch(url + "/course/10-feature-stores.txt")
    assert status == 200 and b'<h1 id="feature-stores">Feature Stores</h1>' in body


@pytest.fixture(scope="module")
def guarded_course(tmp_path_factory, embedder):
    """A served course folder with a hidden draft, a link to a file outside it, and a file name to encode."""
    from ingest.pipeline import ingest_corpus

    root = tmp_path_factory.mktemp("guarded")
    corpus = root / "corpus"
    (corpus / ".drafts").mkdir(parents=True)
    (corpus / "lesson.md").write_text("# Lesson\n\nText about telescopes.\n")
    (corpus / "C# notes?.md").write_text("# C# notes\n\n## Über Lernraten\n\nLearning rates control step size.\n")
    (corpus / ".drafts" / "exam-answers.md").write_text("# Answers\n\nSecret answer: B.\n")
    (root / "secret.md").write_text("# Secret\n\nSecret outside the course.\n")
    os.symlink(root / "secret.md", corpus / "escape-link.md")
    settings = Settings(corpus_dir=corpus, db_dir=root / "index")
    report = ingest_corpus(settings, lambda: embedder)
    with serving(settings, embedder) as (url, guide):
        yield url, guide, report


def test_ingest_skips_links_that_leave_the_course_folder(guarded_course):
    _, guide, report = guarded_course
    assert report.skipped == ["escape-link.md"]
    assert set(guide.index.refresh().files) == {"lesson.md", "C# notes?.md"}


def test_citation_links_are_url_encoded_and_open(guarded_course):
    url, guide, _ = guarded_course
    chunk = next(c for c in guide.index.chunks() if c.source == "C# notes?.md")
    assert chunk.link() == "/course/C%23%20notes%3F.md#%C3%BCber-lernraten"
    status, _, body = fetch(url + chunk.link().split("#")[0])
    assert status == 200 and 'id="über-lernraten"'.encode() in body


@pytest.mark.parametrize(
    "path",
    ["../pyproject.toml", "..%2fpyproject.toml", "%2e%2e/%2e%2e/etc/passwd", "/etc/passwd", "%2Fetc%2Fpasswd",
     "missing.md", "escape-link.md", "..%5csecret.md", ".drafts/exam-answers.md", "%2edrafts/exam-answers.md"],
)
def test_lesson_view_never_leaves_the_course_folder(guarded_course, path):
    url, _, _ = guarded_course
    assert fetch(url + "/course/lesson.md")[0] == 200
    status, _, body = fetch(f"{url}/course/{path}")
    assert status == 404, (path, body[:200])
    assert b"Secret" not in body and b"root:" not in body


def test_chat_without_index_tells_how_to_ingest(tmp_path, embedder):
    settings = Settings(corpus_dir=tmp_path, db_dir=tmp_path / "no-index")
    with serving(settings, embedder) as (url, _):
        status, _, body = fetch(url + "/config")
        assert status == 200 and b"No course index yet" in body and b"course-guide ingest" in body
        reply = Client(url, verbose=False).predict("What is MLOps?", api_name="/ask")
        assert "The course index is missing or damaged" in reply and "course-guide ingest" in reply


def test_lesson_links_use_the_folder_the_index_was_built_from(settings, run_ingest, embedder):
    """An instructor who ingested --corpus elsewhere and then runs plain `serve` still gets working links."""
    run_ingest(settings)
    with serving(Settings(db_dir=settings.db_dir), embedder) as (url, guide):
        assert guide.corpus_dir(guide.index.refresh()) == settings.corpus_dir.resolve()
        status, _, body = fetch(url + "/course/01-telescopes.md")
        assert status == 200 and b'id="reflectors"' in body


def test_contents_page_lists_every_lesson_with_working_links(shipped_server):
    url, guide = shipped_server
    status, _, body = fetch(url + "/course/")
    page = body.decode()
    assert status == 200 and "<h1>Course contents</h1>" in page
    links = re.findall(r'<li><a href="(/course/[^"]+)">([^<]+)</a>', page)
    assert len(links) == len(guide.index.refresh().files) == 17
    assert ("/course/09-model-monitoring.md", "Model Monitoring and Drift") in links
    assert all(fetch(url + href)[0] == 200 for href, _ in links)


def test_lesson_view_with_a_damaged_index_is_a_404_not_a_crash(settings, run_ingest, embedder):
    run_ingest(settings)
    (settings.db_dir / "manifest.json").write_text("{not json")
    with serving(Settings(db_dir=settings.db_dir), embedder) as (url, _):
        assert fetch(url + "/course/01-telescopes.md")[0] == 404
        status, _, body = fetch(url + "/course/")
        assert status == 200 and b"No course index yet" in body
