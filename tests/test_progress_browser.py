"""The widget's quiz and the instructor's quiz page in real Chromium: one question at a time, graded by the server, progress that survives a reload."""
from __future__ import annotations

import pytest
from pydantic import SecretStr

from app.insights import progress
from app.insights.store import InteractionStore
from app.quiz.bank import course_items
from app.web.learner import LEARNER_COOKIE
from app.web.quiz_chat import due_line
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


def _widget_quiz(page, items, answered_screenshot: str | None = None, dispute_first_miss: bool = False) -> None:
    """A whole widget quiz on the lesson page, right and wrong answers in turn, checking focus and feedback as it goes;
    with `dispute_first_miss`, the learner disputes the grade of the first miss."""
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
        if answered == 1 and answered_screenshot:
            page.screenshot(path=SCREENSHOTS / answered_screenshot)
        if not right and dispute_first_miss:
            dispute_first_miss = False
            page.locator("#course-guide-widget .quiz-feedback button.dispute", has_text="I think my answer was right").click()
            page.locator("#course-guide-widget .quiz-feedback .disputed", has_text="your teacher will look").wait_for(timeout=30_000)
            page.screenshot(path=SCREENSHOTS / "widget-quiz-disputed.png")
        if page.locator("#course-guide-widget .quiz .summary").count():
            break
    assert page.locator("#course-guide-widget .quiz-feedback").get_attribute("aria-live") == "polite"


def _widget_progress(page) -> tuple[str, str]:
    """The widget's "Your progress" table and its due line, after a reload."""
    page.reload()
    page.locator("#course-guide-widget button.launcher").click()
    page.locator("#course-guide-widget button.your-progress").click()
    page.locator("#course-guide-widget .quiz table").wait_for(timeout=30_000)
    return _shadow_text(page, ".quiz table"), _shadow_text(page, ".due")


def _chat_progress(page) -> str:
    page.locator("#progress-button").click()
    page.locator("#guide-chat", has_text="Your progress").wait_for(timeout=60_000)
    page.locator("#guide-chat", has_text="due for review").wait_for(timeout=60_000)
    return page.locator("#guide-chat").inner_text()


def _same_progress(report: dict, widget_table: str, widget_due: str, chat_text: str, due_now) -> None:
    """What the store says, as the widget shows it and as the chat shows it."""
    for row in report["lessons"]:
        shown = f"{int(row['mastery'] * 100 + 0.5)}%"
        assert shown in widget_table and row["title"] in widget_table, f"widget: {row['title']} {shown}"
        assert shown in chat_text and row["title"] in chat_text, f"chat: {row['title']} {shown}"
    # A missed item falls due a minute after the miss (FSRS's first relearning step), so the count may step up while the
    # views load: each view must show the count of some moment between the first report and now.
    dues = {due_line(n).split(" Say")[0] for n in range(report["due"], due_now() + 1)}
    assert widget_due in dues and any(due in chat_text for due in dues), (widget_due, dues)


def _stored_learner(page) -> str:
    return page.evaluate("() => Object.entries(localStorage).find(([k]) => k.startsWith('course-guide:learner:'))[1]")


def test_widget_quiz_on_a_lesson_page_is_stored_and_progress_survives_a_reload(browser, quiz_site):
    site, guide, store, guide_url = quiz_site
    SCREENSHOTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 860}, color_scheme="light")
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(str(err)))
    page.goto(f"{site}/lesson.html")
    _widget_quiz(page, course_items(guide), answered_screenshot="widget-quiz.png", dispute_first_miss=True)
    learner = _stored_learner(page)
    rows = progress.attempts(store, learner)
    assert rows and {r["channel"] for r in rows} == {"widget"} and {r["lesson"] for r in rows} == {"09-model-monitoring.md"}
    assert [r["verdict"] != "correct" for r in rows if r["disputed"]] == [True], "the first miss is disputed, its grade unchanged"
    report = progress.progress(guide, store, learner)
    table, due = _widget_progress(page)
    assert f"{int(report['lessons'][0]['mastery'] * 100 + 0.5)}%" in table and report["lessons"][0]["title"] in table
    assert due in {due_line(n).split(" Say")[0] for n in range(report["due"], progress.progress(guide, store, learner)["due"] + 1)}
    page.screenshot(path=SCREENSHOTS / "widget-progress.png")
    assert not problems
    context.close()


def _chat_first_then_widget_quiz(browser, quiz_site, site: str):
    """One browser: the chat opened first (it gets its cookie id), then a widget quiz on a lesson page of `site`."""
    _, guide, _, guide_url = quiz_site
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
    chat = context.new_page()
    chat.goto(guide_url + "/")
    chat_id = next(c["value"] for c in context.cookies() if c["name"] == LEARNER_COOKIE)
    page = context.new_page()
    page.goto(f"{site}/lesson.html")
    _widget_quiz(page, course_items(guide))
    return context, chat, chat_id, page


def test_after_a_reload_the_widget_and_the_chat_show_the_same_progress_on_the_same_site(browser, quiz_site):
    """A course page on the guide's own site (here 127.0.0.1, as course.example.edu is to guide.example.edu): the widget
    takes the chat's cookie id through one credentialed call, so both views read one learner's records."""
    site, guide, store, _ = quiz_site
    context, chat, chat_id, page = _chat_first_then_widget_quiz(browser, quiz_site, site.replace("localhost", "127.0.0.1"))
    assert _stored_learner(page) == chat_id, "the widget took the chat's id"
    report = progress.progress(guide, store, chat_id)
    assert report["lessons"] and {r["channel"] for r in progress.attempts(store, chat_id)} == {"widget"}
    table, due = _widget_progress(page)
    chat.reload()
    _same_progress(report, table, due, _chat_progress(chat), lambda: progress.progress(guide, store, chat_id)["due"])
    chat.screenshot(path=SCREENSHOTS / "chat-progress.png")
    context.close()


def test_after_a_reload_the_widget_and_the_chat_show_the_same_progress_from_another_site(browser, quiz_site):
    """A course page on another site, where the browser gives the guide's cookie to no call: the widget's "open your
    progress in the full chat" link carries its id to the guide's own page, and the chat's earlier records join it."""
    site, guide, store, guide_url = quiz_site
    context, _, chat_id, page = _chat_first_then_widget_quiz(browser, quiz_site, site)
    widget_id = _stored_learner(page)
    table, due = _widget_progress(page)
    report = progress.progress(guide, store, widget_id)
    with context.expect_page() as opened:
        page.locator("#course-guide-widget .full-chat a").click()
    full_chat = opened.value
    full_chat.wait_for_url(guide_url + "/", timeout=30_000)
    assert next(c["value"] for c in context.cookies() if c["name"] == LEARNER_COOKIE) == widget_id
    assert widget_id == chat_id or progress.attempts(store, chat_id) == [], "the chat's id, if it was another, has nothing left"
    _same_progress(report, table, due, _chat_progress(full_chat), lambda: progress.progress(guide, store, widget_id)["due"])
    page.screenshot(path=SCREENSHOTS / "widget-progress-full-chat-link.png")
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
