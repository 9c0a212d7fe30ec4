"""What a learner sees: real Chromium opens the chat, asks, follows a citation to the passage. Screenshots go to screenshots/."""
from __future__ import annotations

import pytest

from tests.conftest import SCREENSHOTS, serving

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def ask(page, question: str) -> None:
    page.locator("#guide-question textarea").fill(question)
    page.keyboard.press("Enter")


def test_chat_answer_streams_with_citation_that_opens_the_passage(page, shipped_server):
    url, _ = shipped_server
    SCREENSHOTS.mkdir(exist_ok=True)
    page.goto(url)
    page.wait_for_selector("#guide-question textarea", timeout=60_000)
    page.screenshot(path=SCREENSHOTS / "chat-empty.png")
    examples = page.locator("button:has-text('What is')")
    assert examples.count() >= 2, "example questions from the course are offered"

    ask(page, "How is data drift detected?")
    citation = page.locator("#guide-chat a", has_text="[1]").first
    citation.wait_for(timeout=60_000)
    sources = page.locator("#guide-chat", has_text="Sources")
    sources.wait_for()
    page.screenshot(path=SCREENSHOTS / "chat-answer.png")
    href = citation.get_attribute("href")
    assert href.startswith("/course/09-model-monitoring.md#")
    anchor = href.split("#")[1]

    with page.context.expect_page() as opened:
        citation.click()
    lesson = opened.value
    lesson.wait_for_load_state()
    assert lesson.url == url + href
    heading = lesson.locator(f"[id='{anchor}']")
    assert heading.is_visible()
    assert "cited" in heading.get_attribute("class")
    box = heading.bounding_box()
    assert box is not None and 0 <= box["y"] < 900, "the cited section is scrolled into view"
    lesson.screenshot(path=SCREENSHOTS / "lesson-cited.png")


def test_chat_refuses_out_of_scope_in_the_page(page, shipped_server):
    url, _ = shipped_server
    page.goto(url)
    page.wait_for_selector("#guide-question textarea", timeout=60_000)
    ask(page, "What is a good recipe for chicken curry?")
    page.locator("#guide-chat", has_text="Closest topics in the course").wait_for(timeout=60_000)
    assert page.locator("#guide-chat a[href^='/course/']").count() >= 1
    page.screenshot(path=SCREENSHOTS / "chat-refusal.png")


def test_page_without_index_says_to_ingest(page, tmp_path, embedder):
    from core.settings import Settings

    with serving(Settings(corpus_dir=tmp_path, db_dir=tmp_path / "none"), embedder) as (url, _):
        page.goto(url)
        notice = page.locator("[data-testid=markdown].guide-status", has_text="No course index yet")
        notice.wait_for(timeout=60_000)
        assert "course-guide ingest" in notice.inner_text()
        page.screenshot(path=SCREENSHOTS / "chat-no-index.png")


@pytest.mark.parametrize(
    "question, href, shot",
    [
        ("What is the prediction flip rate?", "/course/14-golden-set-regression-tests.ipynb#cell-4", "lesson-notebook-cell.png"),
        ("What is a blameless postmortem?", "/course/15-incident-response-for-ml.pptx#slide-6", "lesson-slide.png"),
        ("What are pipeline jungles?", "/course/16-lecture-technical-debt.vtt#t-356", "lesson-transcript-cue.png"),
    ],
    ids=["notebook-cell", "slide", "transcript-cue"],
)
def test_citation_of_a_cell_slide_or_cue_opens_the_lesson_there(page, shipped_server, question, href, shot):
    url, _ = shipped_server
    SCREENSHOTS.mkdir(exist_ok=True)
    page.goto(url)
    page.wait_for_selector("#guide-question textarea", timeout=60_000)
    ask(page, question)
    citation = page.locator("#guide-chat a", has_text="[1]").first
    citation.wait_for(timeout=60_000)
    assert citation.get_attribute("href") == href

    with page.context.expect_page() as opened:
        citation.click()
    lesson = opened.value
    lesson.wait_for_load_state()
    assert lesson.url == url + href
    target = lesson.locator(f"[id='{href.split('#')[1]}']")
    assert target.is_visible() and "cited" in target.get_attribute("class")
    assert lesson.locator(".cited").count() == 1, "only the cited cell, slide or passage is marked"
    box = target.bounding_box()
    assert box is not None and 0 <= box["y"] < 900, "the cited part is scrolled into view"
    lesson.screenshot(path=SCREENSHOTS / shot)
