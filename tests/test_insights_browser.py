"""The insights loop in real Chromium: ask in the widget and the chat, vote, then read it all on /instructor as the instructor."""
from __future__ import annotations

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
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


def _wait_for(check, timeout_s: float = 15.0):
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_the_instructor_sees_questions_gaps_and_comments_and_exports_eval_lines(browser, recording_guide, tmp_path, shipped_settings):
    import json

    import httpx
    from click.testing import CliRunner

    from app.cli.main import main

    guide_url, store = recording_guide
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(str(err)))

    # A learner asks in the chat and marks the answer not helpful with Gradio's thumbs down.
    page.goto(guide_url + "/")
    page.locator("#guide-question textarea").fill("How do I write a Helm chart for my model server?")
    page.locator("#guide-question textarea").press("Enter")
    page.get_by_label("Dislike").last.wait_for(timeout=60_000)
    page.get_by_label("Dislike").last.click()
    chat_row = _wait_for(lambda: next((r for r in store.questions(limit=None)[0]
                                       if r["channel"] == "chat" and r["helpful"] is False), None))
    assert chat_row and chat_row["refused"] is True and chat_row["question"].startswith("How do I write a Helm chart")

    # Another learner, over the API: a question with markup in it, marked not helpful with a comment.
    hostile = "<script>window.__xss=1</script> What goes into a Helm chart's values file?"
    body = httpx.post(guide_url + "/api/ask", json={"question": hostile, "learner": "dash-1"}, timeout=60).json()
    httpx.post(guide_url + "/api/feedback", json={"answer_id": body["answer_id"], "helpful": False,
                                                  "comment": "<img src=x onerror=window.__xss=2> Nothing about Helm."})

    # The instructor signs in: a wrong token is refused, the right one sets a strict, HttpOnly cookie.
    page.goto(guide_url + "/instructor")
    page.locator("#token").fill("not the token")
    page.locator("button[type=submit]").click()
    assert "not the instructor token" in page.locator(".error").inner_text()
    page.locator("#token").fill(TOKEN)
    page.locator("button[type=submit]").click()
    page.locator("#gaps").wait_for()
    cookie = next(c for c in context.cookies() if c["name"] == "course_guide_instructor")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and TOKEN not in cookie["value"]
    response = page.request.get(guide_url + "/instructor")
    assert response.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in response.headers["content-security-policy"]

    # Both Helm questions are one gap group, the markup shows as text and never runs, and the comment is there.
    helm = page.locator(".gap", has_text="Helm chart").first
    assert "2 questions" in helm.locator(".count").inner_text()
    assert hostile in page.locator("#questions td.question").all_inner_texts()
    assert "<img src=x onerror=window.__xss=2> Nothing about Helm." in page.locator("#unhelpful .comment").all_inner_texts()[0]
    assert page.evaluate("() => window.__xss") is None and page.locator("main script, main img").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "instructor-dashboard.png"), full_page=True)

    # Tick the two questions and download them as eval lines; `course-guide eval` runs them.
    for question in (hostile, "How do I write a Helm chart for my model server?"):
        page.locator("#questions tr", has_text=question).first.locator("input[type=checkbox]").check()
    with page.expect_download() as download:
        page.locator("button", has_text="Download ticked as eval lines").click()
    lines = (tmp_path / "learner.jsonl")
    download.value.save_as(lines)
    cases = [json.loads(line) for line in lines.read_text().splitlines()]
    assert {c["question"] for c in cases} == {hostile, "How do I write a Helm chart for my model server?"}
    assert all(c["type"] == "out_of_scope" and "REVIEW" in c["notes"] for c in cases)
    result = CliRunner().invoke(main, ["eval", "--dataset", str(lines), "--db", str(shipped_settings.db_dir), "--no-judge",
                                       "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "2 of 2 questions passed" in result.output
    assert problems == []
    context.close()


def test_instructor_pages_without_the_token(recording_guide):
    import httpx

    guide_url, _ = recording_guide
    page = httpx.get(guide_url + "/instructor")
    assert page.status_code == 200 and 'name="token"' in page.text and "id=\"gaps\"" not in page.text
    for path in ("/instructor/questions.csv", "/instructor/questions.json"):
        assert httpx.get(guide_url + path).status_code == 401
        assert httpx.get(guide_url + path, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.post(guide_url + "/instructor/export", data={"answer_id": "x" * 36}).status_code == 401
    forged = httpx.get(guide_url + "/instructor", cookies={"course_guide_instructor": "forged"})
    assert "id=\"gaps\"" not in forged.text and "name=\"token\"" in forged.text
    csv = httpx.get(guide_url + "/instructor/questions.csv", headers={"Authorization": f"Bearer {TOKEN}"})
    assert csv.status_code == 200 and csv.text.startswith("asked_at,answer_id,channel")


def test_sign_in_attempts_are_limited(shipped_settings, embedder, tmp_path):
    import httpx

    settings = shipped_settings.model_copy(update={"instructor_token": SecretStr(TOKEN), "state_dir": tmp_path / "state"})
    with serving(settings, embedder) as (url, _):
        tries = [httpx.post(url + "/instructor/sign-in", data={"token": f"guess-{n}"}) for n in range(11)]
        right = httpx.post(url + "/instructor/sign-in", data={"token": TOKEN})
    assert [r.status_code for r in tries] == [401] * 10 + [429]
    assert "Too many sign-in attempts" in tries[-1].text and right.status_code == 429, "even the right token waits"


def test_the_chats_flag_menu_gives_a_reason_as_the_comment(browser, recording_guide):
    guide_url, store = recording_guide
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(guide_url + "/")
    assert "recorded anonymously" in page.locator(".guide-header").first.inner_text()
    page.locator("#guide-question textarea").fill("What does a feature store serve?")
    page.locator("#guide-question textarea").press("Enter")
    page.get_by_label("Feedback").last.wait_for(timeout=60_000)
    option = page.locator("button.extra-feedback-option", has_text="Wrong or incomplete").last
    # On a loaded machine the first click can land while Gradio still re-renders the finished message, and the menu
    # never opens (seen once in a full run at load 5): click again until it shows, at most three times.
    for _ in range(3):
        page.get_by_label("Feedback").last.click()
        try:
            option.wait_for(state="visible", timeout=10_000)
            break
        except PlaywrightTimeoutError:
            continue
    option.click()
    row = _wait_for(lambda: next((r for r in store.questions(limit=None)[0]
                                  if r["question"] == "What does a feature store serve?" and r["helpful"] is False), None))
    assert row and row["channel"] == "chat" and row["comment"] == "Wrong or incomplete"
    context.close()
