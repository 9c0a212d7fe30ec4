"""The insights loop in real Chromium: ask in the widget and the chat, vote, then read it all on /instructor as the instructor."""
from __future__ import annotations

import pytest
from pydantic import SecretStr

from app.insights.store import InteractionStore
from tests.conftest import SCREENSHOTS, serving
from tests.test_widget import ask, static_site, write_pages

pytestmark = pytest.mark.browser
TOKEN = "dashboard-token-" + "y" * 24


@pytest.fixture(scope="module")
def recording_guide(shipped_settings, embedder, tmp_path_factory):
    settings = shipped_settings.model_copy(update={
        "instructor_token": SecretStr(TOKEN), "state_dir": tmp_path_factory.mktemp("browser-state"), "rate_limit_per_minute": 10_000})
    with serving(settings, embedder) as (url, guide):
        yield url, InteractionStore.open(settings)


def test_widget_votes_with_a_comment_under_a_kept_learner_id(browser, recording_guide, tmp_path):
    guide_url, store = recording_guide
    pages = tmp_path / "site"
    write_pages(pages, guide_url, "model-monitoring")
    with static_site(pages, "127.0.0.1") as port:
        context = browser.new_context(viewport={"width": 1280, "height": 820})
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda err: problems.append(str(err)))
        page.goto(f"http://localhost:{port}/lesson.html")
        page.locator("#course-guide-widget button.launcher").click()
        assert "recorded anonymously" in page.locator("#course-guide-widget .privacy").inner_text()
        ask(page, "How do you detect data drift?")
        page.locator("#course-guide-widget .vote button.no").wait_for(timeout=30_000)
        page.locator("#course-guide-widget .vote button.no").click()
        page.locator("#course-guide-widget .vote input").wait_for(state="visible")
        page.locator("#course-guide-widget .vote input").fill("It did not say which test to use.")
        page.locator("#course-guide-widget .vote .send-comment").click()
        page.locator("#course-guide-widget .vote .thanks", has_text="comment was sent").wait_for(timeout=10_000)
        assert page.locator("#course-guide-widget .vote button.no").get_attribute("aria-pressed") == "true"
        assert page.locator("#course-guide-widget .vote svg").count() == 2, "drawn icons, not emoji"
        page.screenshot(path=str(SCREENSHOTS / "widget-feedback.png"))
        learner = page.evaluate(f"() => localStorage.getItem('course-guide:learner:{guide_url}')")
        assert learner and len(learner) == 32

        rows = [r for r in store.questions(limit=None)[0] if r["question"] == "How do you detect data drift?" and r["channel"] == "widget"]
        assert len(rows) == 1 and rows[0]["helpful"] is False and rows[0]["comment"] == "It did not say which test to use."
        assert rows[0]["lesson"] == "09-model-monitoring.md"
        # The next page keeps the same learner id and shows the vote already given.
        page.locator("a", has_text="Next page").click()
        page.wait_for_url("**/next.html")
        assert page.evaluate(f"() => localStorage.getItem('course-guide:learner:{guide_url}')") == learner
        page.locator("#course-guide-widget button.launcher").click()
        assert page.locator("#course-guide-widget .vote button.no").get_attribute("aria-pressed") == "true"
        assert problems == []
        context.close()


def test_widget_without_local_storage_still_votes(browser, recording_guide, tmp_path):
    guide_url, store = recording_guide
    pages = tmp_path / "site"
    write_pages(pages, guide_url, "model-monitoring")
    with static_site(pages, "127.0.0.1") as port:
        context = browser.new_context()
        context.add_init_script("Object.defineProperty(window, 'localStorage', { get() { throw new DOMException('blocked', 'SecurityError'); } });")
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda err: problems.append(str(err)))
        page.goto(f"http://localhost:{port}/lesson.html")
        page.locator("#course-guide-widget button.launcher").click()
        ask(page, "What is a model registry for?")
        page.locator("#course-guide-widget .vote button.yes").wait_for(timeout=30_000)
        page.locator("#course-guide-widget .vote button.yes").click()
        page.locator("#course-guide-widget .vote .thanks", has_text="Thanks").wait_for(timeout=10_000)
        rows = [r for r in store.questions(limit=None)[0] if r["question"] == "What is a model registry for?"]
        assert len(rows) == 1 and rows[0]["helpful"] is True and problems == []
        context.close()
