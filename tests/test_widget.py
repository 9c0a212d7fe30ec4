"""The embeddable widget in real Chromium, cross-origin: a static course page on one loopback origin, the guide on another."""
from __future__ import annotations

import functools
import http.server
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from core.settings import Settings
from tests.conftest import (
    FIXTURE_COURSE,
    SCREENSHOTS,
    free_port,
    running_http_server,
    serving,
)

pytestmark = pytest.mark.browser

# The course site's own CSS is hostile on purpose: none of it may reach the widget.
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: Georgia, serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.6; color: #222; }}
button {{ background: red !important; font-size: 40px !important; }}
</style></head>
<body><h1>{title}</h1>
<p>Once a model is in production, its inputs and predictions drift away from what it was trained on.
This lesson shows how to watch for that and when to retrain.</p>
<p><a href="{next}">Next page</a></p>
<script src="{guide}/widget.js" data-lesson="{lesson}" defer></script>
</body></html>"""

INJECTION_LESSON = """Escaping markup
===============

Sanitising <img src=x onerror="window.__xss=2"> input
-----------------------------------------------------

A sanitiser treats <script>alert('xss')</script> and <img src=x onerror="window.__xss=1"> as plain text that is shown but never run.
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextmanager
def static_site(folder: Path, host: str, port: int | None = None) -> Iterator[int]:
    """A plain static web server for the course pages: a course site knows nothing of the guide but its script URL."""
    port = port or free_port()
    server = http.server.ThreadingHTTPServer((host, port), functools.partial(_QuietHandler, directory=str(folder)))
    with running_http_server(server):
        yield port


def write_pages(folder: Path, guide: str, lesson: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, title, following in [("lesson.html", "Lesson 9: Model monitoring", "next.html"), ("next.html", "Lesson 10: Retraining", "lesson.html")]:
        (folder / name).write_text(PAGE.format(title=title, next=following, guide=guide, lesson=lesson), encoding="utf-8")


@pytest.fixture(scope="module")
def site_port() -> Iterator[int]:
    """The port both course-site origins use: the allowed http://localhost:PORT and the refused http://127.0.0.2:PORT."""
    yield free_port()


@pytest.fixture(scope="module")
def guide_for_site(shipped_settings, embedder, site_port):
    """The guide on http://127.0.0.1:B, allowing the course site at http://localhost:A."""
    settings = shipped_settings.model_copy(update={"allowed_origins": [f"http://localhost:{site_port}"]})
    with serving(settings, embedder) as (url, guide):
        yield url, guide


def shadow_count(page, selector: str) -> int:
    return page.evaluate("s => document.querySelector('#course-guide-widget').shadowRoot.querySelectorAll(s).length", selector)


def focused_in_widget(page) -> str:
    """The class of the element focused inside the widget's shadow root ('' if focus is elsewhere)."""
    return page.evaluate("() => { const r = document.querySelector('#course-guide-widget').shadowRoot; "
                         "return r.activeElement ? (r.activeElement.className || r.activeElement.tagName) : ''; }")


def ask(page, question: str):
    page.locator("#course-guide-widget textarea").fill(question)
    page.locator("#course-guide-widget textarea").press("Enter")


def test_widget_on_an_allowed_course_site_streams_a_cited_answer(browser, guide_for_site, tmp_path, site_port):
    guide_url, _ = guide_for_site
    pages = tmp_path / "site"
    write_pages(pages, guide_url, "model-monitoring")
    SCREENSHOTS.mkdir(exist_ok=True)
    with static_site(pages, "127.0.0.1", site_port) as port:
        site = f"http://localhost:{port}"
        context = browser.new_context(viewport={"width": 1280, "height": 820}, color_scheme="light")
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda err: problems.append(str(err)))
        asked: list[dict] = []
        page.on("request", lambda r: asked.append(r.post_data_json) if r.url.endswith("/api/ask/stream") else None)
        page.goto(f"{site}/lesson.html")

        launcher = page.locator("#course-guide-widget button.launcher")
        launcher.focus()
        page.keyboard.press("Enter")  # keyboard opens it, and focus moves into the question box
        page.locator("#course-guide-widget section.panel").wait_for(state="visible")
        assert focused_in_widget(page) == "TEXTAREA"
        # The page's `button { background: red; font-size: 40px }` does not reach the widget.
        assert launcher.evaluate("b => getComputedStyle(b).fontSize") == "15px"

        ask(page, "How do you detect data drift?")
        sources = page.locator("#course-guide-widget ol.sources a")
        sources.first.wait_for(timeout=30_000)
        assert asked and asked[0]["lesson"] == "model-monitoring" and asked[0]["history"] == []

        answer = page.locator("#course-guide-widget .msg.bot").last
        marker = answer.locator("p a, li a").first
        href = marker.get_attribute("href")
        assert marker.inner_text() == "[1]" and marker.get_attribute("target") == "_blank" and marker.get_attribute("rel") == "noopener"
        assert href.startswith(f"{guide_url}/course/"), "citation links point at the guide, not the course site"
        passage = httpx.get(href.split("#")[0])  # the link opens the cited passage's anchor on the guide
        assert passage.status_code == 200 and f'id="{href.split("#")[1]}"' in passage.text
        assert sources.first.get_attribute("href") == href
        page.screenshot(path=str(SCREENSHOTS / "widget-light.png"))
        page.emulate_media(color_scheme="dark")
        page.screenshot(path=str(SCREENSHOTS / "widget-dark.png"))
        assert answer.evaluate("a => getComputedStyle(a).color") == "rgb(229, 231, 235)"
        page.emulate_media(color_scheme="light")

        # The conversation follows the learner to the next page (sessionStorage), and is sent as history.
        page.locator("a", has_text="Next page").click()
        page.wait_for_url("**/next.html")
        page.locator("#course-guide-widget button.launcher").click()
        assert page.locator("#course-guide-widget .msg.me").first.inner_text() == "How do you detect data drift?"
        assert shadow_count(page, "ol.sources a") >= 1
        ask(page, "Why does it matter?")
        page.locator("#course-guide-widget .msg.bot").nth(1).locator("ol.sources a, h3").first.wait_for(timeout=30_000)
        assert [m["role"] for m in asked[1]["history"]] == ["user", "assistant"]

        # Phone width: the panel fills the screen.
        page.set_viewport_size({"width": 390, "height": 780})
        box = page.locator("#course-guide-widget section.panel").bounding_box()
        assert box["width"] == 390 and box["x"] == 0
        page.screenshot(path=str(SCREENSHOTS / "widget-phone.png"))

        page.keyboard.press("Escape")  # Esc closes and gives focus back to the launcher
        page.locator("#course-guide-widget section.panel").wait_for(state="hidden")
        assert focused_in_widget(page) == "launcher"
        assert problems == []
        context.close()


def test_allowlisted_origin_gets_cors_from_the_guide(guide_for_site, site_port):
    guide_url, _ = guide_for_site
    origin = f"http://localhost:{site_port}"
    response = httpx.post(guide_url + "/api/ask", json={"question": "What is MLOps?"}, headers={"Origin": origin})
    assert response.status_code == 200 and response.headers["access-control-allow-origin"] == origin


def test_widget_on_a_site_off_the_allowlist_is_refused(browser, guide_for_site, tmp_path, site_port):
    guide_url, _ = guide_for_site
    pages = tmp_path / "other-site"
    write_pages(pages, guide_url, "model-monitoring")
    # 127.0.0.2 is loopback too, but a different origin, and neither localhost nor 127.0.0.1: not allowed.
    with static_site(pages, "127.0.0.2") as port:
        context = browser.new_context(viewport={"width": 1280, "height": 820})
        page = context.new_page()
        page.goto(f"http://127.0.0.2:{port}/lesson.html")
        page.locator("#course-guide-widget button.launcher").click()
        ask(page, "How do you detect data drift?")
        error = page.locator("#course-guide-widget .msg.error")
        error.wait_for(timeout=30_000)
        assert "does not accept questions from this site" in error.inner_text()
        assert f"http://127.0.0.2:{port}" in error.inner_text()
        assert shadow_count(page, ".msg.bot") == 0
        page.screenshot(path=str(SCREENSHOTS / "widget-refused.png"))
        context.close()


def test_widget_works_where_session_storage_is_blocked(browser, guide_for_site, tmp_path):
    guide_url, _ = guide_for_site
    pages = tmp_path / "blocked-storage"
    write_pages(pages, guide_url, "model-monitoring")
    with static_site(pages, "127.0.0.1") as port:
        context = browser.new_context()
        context.add_init_script(
            "Object.defineProperty(window, 'sessionStorage', { get() { throw new DOMException('blocked', 'SecurityError'); } });"
        )
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda err: problems.append(str(err)))
        page.goto(f"http://localhost:{port}/lesson.html")
        page.locator("#course-guide-widget button.launcher").click()
        ask(page, "What is a model registry?")
        page.locator("#course-guide-widget ol.sources a").first.wait_for(timeout=30_000)
        assert problems == []
        context.close()


def test_lesson_markup_shows_as_text_never_as_html(browser, embedder, run_ingest, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(FIXTURE_COURSE, course)
    (course / "05-escaping.txt").write_text(INJECTION_LESSON, encoding="utf-8")
    settings = Settings(corpus_dir=course, db_dir=tmp_path / "index")
    run_ingest(settings)
    with serving(settings, embedder) as (guide_url, _):
        pages = tmp_path / "site"
        write_pages(pages, guide_url, "escaping")
        with static_site(pages, "127.0.0.1") as port:
            context = browser.new_context(viewport={"width": 1280, "height": 820})
            page = context.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(f"http://localhost:{port}/lesson.html")
            page.locator("#course-guide-widget button.launcher").click()
            ask(page, "How does a sanitiser treat a script tag?")
            page.locator("#course-guide-widget ol.sources a").first.wait_for(timeout=30_000)
            answer = page.locator("#course-guide-widget .msg.bot").last.inner_text()
            assert "<script>alert('xss')</script>" in answer and '<img src=x onerror="window.__xss=1">' in answer
            assert 'Sanitising <img src=x onerror="window.__xss=2"> input' in answer, "the section name in Sources is text too"
            assert shadow_count(page, "img") == 0 and shadow_count(page, "script") == 0
            assert page.evaluate("() => window.__xss") is None and dialogs == []
            page.screenshot(path=str(SCREENSHOTS / "widget-injection.png"))
            context.close()
