"""The widget's quiz and the instructor's quiz page in real Chromium: one question at a time, graded by the server, progress that survives a reload."""
from __future__ import annotations

import pytest
from pydantic import SecretStr

from app.insights import progress
from app.insights.store import InteractionStore
from app.quiz.bank import course_items
from tests.conftest import SCREENSHOTS, free_port, serving
from tests.test_widget import focused_in_widget, static_site, write_pages

TOKEN = "instructor-secret-" + "q" * 20


@pytest.fixture(scope="module")
def quiz_site(shipped_settings, embedder, tmp_path_factory):
    port = free_port()
    settings = shipped_settings.model_copy(update={"allowed_origins": [f"http://localhost:{port}"], "rate_limit_per_minute": 10_000, "instructor_token": SecretStr(TOKEN),
                                                   "state_dir": tmp_path_factory.mktemp("widget-progress-state")})
    with serving(settings, embedder) as (url, guide):
        pages = tmp_path_factory.mktemp("quiz-site")
        write_pages(pages, url, "model-monitoring")
        with static_site(pages, "127.0.0.1", port):
            store = InteractionStore.open(settings)
            yield f"http://localhost:{port}", guide, store, url
            store.close()


def _shadow_text(page, selector: str) -> str:
    return page.evaluate("s => document.querySelector('#course-guide-widget').shadowRoot.querySelector(s).textContent", selector)


def test_widget_quiz_on_a_lesson_page_is_stored_and_progress_survives_a_reload(browser, quiz_site):
    site, guide, store, guide_url = quiz_site
    SCREENSHOTS.mkdir(exist_ok=True)
    items = course_items(guide)
    context = browser.new_context(viewport={"width": 1280, "height": 860}, color_scheme="light")
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(str(err)))
    page.goto(f"{site}/lesson.html")
    page.locator("#course-guide-widget button.launcher").click()
    page.locator("#course-guide-widget button.quiz-me").click()
    question = page.locator("#course-guide-widget .quiz .question")
    answered = 0
    while True:
        question.wait_for(timeout=30_000)
        text = question.text_content()
        item = next(i for i in items.values() if i.question in text)
        assert item.source == "09-model-monitoring.md", "on a lesson page the quiz is on that lesson"
        right = answered % 2 == 0
        if item.choices:
            assert focused_in_widget(page) == "BUTTON", "focus moves to the first choice"
            label = item.answer if right else next(c for c in item.choices if c != item.answer)
            page.locator("#course-guide-widget .quiz .choices button", has_text=label).first.click()
        else:
            assert focused_in_widget(page) == "INPUT", "focus moves to the answer box"
            page.locator("#course-guide-widget #cg-quiz-answer").fill(item.answer if right else "no idea")
            page.locator("#course-guide-widget #cg-quiz-answer").press("Enter")
        answered += 1
        page.wait_for_function("t => { const q = document.querySelector('#course-guide-widget').shadowRoot.querySelector('.quiz .question');"
                               " const s = document.querySelector('#course-guide-widget').shadowRoot.querySelector('.quiz .summary');"
                               " return s || (q && q.textContent !== t); }", arg=text, timeout=30_000)
        feedback = _shadow_text(page, ".quiz-feedback")
        assert "Answer:" in feedback and ("Correct." in feedback if right else "Not quite." in feedback or "Partly" in feedback)
        if answered == 1:
            page.screenshot(path=SCREENSHOTS / "widget-quiz.png")
        if page.locator("#course-guide-widget .quiz .summary").count():
            break
    assert page.locator("#course-guide-widget .quiz-feedback").get_attribute("aria-live") == "polite"
    learner = page.evaluate("() => Object.entries(localStorage).find(([k]) => k.startsWith('course-guide:learner:'))[1]")
    rows = progress.attempts(store, learner)
    assert rows and {r["channel"] for r in rows} == {"widget"} and {r["lesson"] for r in rows} == {"09-model-monitoring.md"}
    report = progress.progress(guide, store, learner)

    page.reload()
    page.locator("#course-guide-widget button.launcher").click()
    page.locator("#course-guide-widget button.your-progress").click()
    page.locator("#course-guide-widget .quiz table").wait_for(timeout=30_000)
    table = _shadow_text(page, ".quiz table")
    assert f"{int(report['lessons'][0]['mastery'] * 100 + 0.5)}%" in table and report["lessons"][0]["title"] in table
    assert _shadow_text(page, ".due") in (f"{report['due']} questions are due for review.", "No questions are due for review.",
                                          "1 question is due for review.")
    page.screenshot(path=SCREENSHOTS / "widget-progress.png")
    assert not problems
    context.close()


def test_instructor_quiz_page_shows_attempts_per_lesson_and_the_most_missed_items(browser, quiz_site):
    site, guide, store, guide_url = quiz_site
    item = next(i for i in course_items(guide).values() if i.source != "09-model-monitoring.md" and i.type == "short_answer")
    for n in range(3):
        progress.start_session(store, f"instr-{n}", f"instr-learner-{n}")
        progress.store_attempt(store, session_id=f"instr-{n}", learner=f"instr-learner-{n}", item=item, reply="<b>no idea</b>",
                               score=0.0, verdict="wrong", channel="api")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, extra_http_headers={"Authorization": f"Bearer {TOKEN}"})
    page = context.new_page()
    response = page.goto(f"{guide_url}/instructor/quiz")
    assert response is not None and response.status == 200
    text = page.locator("main").inner_text()
    assert "Attempts per lesson" in text and item.question in text and "100% of 3" in text
    assert "“<b>no idea</b>” × 3" in text, "learner replies show as text, never as markup"
    page.screenshot(path=SCREENSHOTS / "instructor-quiz.png", full_page=True)
    anonymous = browser.new_context().new_page()
    assert anonymous.goto(f"{guide_url}/instructor/quiz").status == 401, "the quiz page needs the instructor token"
    context.close()
