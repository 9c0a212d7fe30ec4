"""What a learner of a many-course guide sees in Chromium: the course list at /, one course's chat at /c/NAME/ answering
from that course with links to its own lesson pages, and the widget on a course site with data-course."""
from __future__ import annotations

import pytest

from app.engine.guide import open_guide
from app.web.server import create_deployment, free_loopback_port, serving_in_thread
from tests.conftest import SCREENSHOTS
from tests.test_courses import school  # noqa: F401 - the two-course deployment fixture
from tests.test_widget import static_site

pytestmark = pytest.mark.browser

SITE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Gardening 101, lesson 1</title></head>
<body style="font-family: Georgia, serif; max-width: 40rem; margin: 2rem auto"><h1>Lesson 1: Plants</h1>
<p>Plants turn light into food.</p>
<script src="{guide}/widget.js" data-course="garden" data-lesson="plants" defer></script></body></html>"""


@pytest.fixture
def served_with_chat(school, embedder):  # noqa: F811 - pytest's fixture by name
    port = free_loopback_port()
    settings = school.model_copy(update={"port": port, "allowed_origins": [*school.allowed_origins]})
    guide = open_guide(settings, embedder, require_index=False)
    with serving_in_thread(create_deployment(guide, chat=True), port) as url:
        yield url, settings


def test_course_list_then_a_courses_chat_answers_from_it_and_cites_its_lessons(browser, served_with_chat):
    url, _settings = served_with_chat
    SCREENSHOTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(url + "/")
    page.locator("a.title", has_text="Astronomy 101").wait_for()
    page.screenshot(path=SCREENSHOTS / "courses-list.png")
    page.locator("a.title", has_text="Astronomy 101").click()
    page.wait_for_url(url + "/c/astro/")
    page.wait_for_selector("#guide-question textarea", timeout=60_000)
    assert page.locator("h1", has_text="Course Guide: Astronomy 101").count() == 1
    page.locator("#guide-question textarea").fill("How do stars shine?")
    page.keyboard.press("Enter")
    citation = page.locator("#guide-chat a", has_text="[1]").first
    citation.wait_for(timeout=60_000)
    page.locator("#guide-chat", has_text="Sources").wait_for()
    page.screenshot(path=SCREENSHOTS / "courses-chat-answer.png")
    href = citation.get_attribute("href")
    assert href.startswith("/c/astro/course/01-stars.md#")
    with context.expect_page() as opened:
        citation.click()
    lesson = opened.value
    lesson.wait_for_load_state()
    assert lesson.url == url + href and lesson.locator(f"[id='{href.split('#')[1]}']").is_visible()
    assert lesson.locator("header a", has_text="Contents").get_attribute("href") == "/c/astro/course/"

    # The same question in the other course's chat is refused there.
    page.goto(url + "/c/garden/")
    page.wait_for_selector("#guide-question textarea", timeout=60_000)
    page.locator("#guide-question textarea").fill("How do stars shine?")
    page.keyboard.press("Enter")
    page.locator("#guide-chat", has_text="Closest topics in the course").wait_for(timeout=60_000)
    assert page.locator("#guide-chat a[href^='/c/garden/course/']").count() >= 1
    assert page.locator("#guide-chat a[href*='/c/astro/']").count() == 0
    context.close()


def test_widget_with_data_course_asks_that_course_from_its_site(browser, served_with_chat, tmp_path):
    url, _settings = served_with_chat
    site = tmp_path / "site"
    site.mkdir()
    (site / "lesson.html").write_text(SITE_PAGE.format(guide=url), encoding="utf-8")
    with static_site(site, "127.0.0.1") as port:
        context = browser.new_context(viewport={"width": 1280, "height": 820})
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda err: problems.append(str(err)))
        asked: list[tuple[str, dict]] = []
        page.on("request", lambda r: asked.append((r.url, r.post_data_json)) if r.url.endswith("/api/ask/stream") else None)
        page.goto(f"http://localhost:{port}/lesson.html")  # localhost: a site the guide allows, on another origin
        page.locator("#course-guide-widget button.launcher").click()
        page.locator("#course-guide-widget textarea").fill("How do plants grow?")
        page.locator("#course-guide-widget textarea").press("Enter")
        sources = page.locator("#course-guide-widget ol.sources a")
        sources.first.wait_for(timeout=60_000)
        assert asked and asked[0][0] == f"{url}/c/garden/api/ask/stream" and asked[0][1]["course"] == "garden"
        assert sources.first.get_attribute("href").startswith(f"{url}/c/garden/course/01-plants.md")
        page.screenshot(path=SCREENSHOTS / "courses-widget.png")
        assert problems == []
        context.close()
