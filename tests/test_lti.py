"""The LTI 1.3 tool against a test platform on loopback (tests/fake_lti_platform.py): login and launch over real HTTP,
each rejected launch by name, grades to the platform's AGS endpoints (exactly once, retried after a failure), Deep
Linking, the `course-guide lti` commands, and the whole loop in real Chromium inside a cross-site iframe."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from click.testing import CliRunner

from app.cli.main import main
from app.engine.guide import Guide, open_guide
from app.insights.store import InteractionStore
from app.lti import grades, registry
from app.quiz.bank import course_items
from app.web.server import create_app, serving_in_thread
from core.settings import Settings
from ingest.pipeline import ingest_corpus
from tests.conftest import REPO, SCREENSHOTS, free_port
from tests.fake_lti_platform import FakePlatform, LaunchPlan, new_key

LESSON = "09-model-monitoring.md"


@dataclass
class Site:
    platform: FakePlatform
    tool: str
    store: InteractionStore
    guide: Guide


@pytest.fixture(scope="module")
def site(fake_embedder, tmp_path_factory):
    """The guide on http://localhost:PORT and the platform on http://127.0.0.1:PORT2: two sites, so the frame is cross-site.

    The shipped course is indexed with the hashing embedder: what is tested here is the LTI protocol around the guide,
    not the answers' quality (the model's own tests cover that), and it keeps these tests in the fast tier."""
    platform = FakePlatform().start()
    port = free_port()
    tool = f"http://localhost:{port}"
    root = tmp_path_factory.mktemp("lti")
    settings = Settings(corpus_dir=REPO / "corpus", db_dir=root / "index", public_url=tool, port=port, host="127.0.0.1",
                        rate_limit_per_minute=10_000, lti_grade_retry_s=0.3, state_dir=root / "state",
                        course_name="MLOps 101")
    ingest_corpus(settings, lambda: fake_embedder)
    guide = open_guide(settings, fake_embedder, require_index=False)
    with serving_in_thread(create_app(guide), port):
        platform.connect(tool)
        store = InteractionStore.open(settings)
        registry.register(store, **platform.registration())
        platform.plans.update({
            "quiz": LaunchPlan(custom={"lesson": "model-monitoring"}),
            "course": LaunchPlan(resource_link_id="link-course", resource_title="Course Guide", ags=False),
            "container": LaunchPlan(sub="learner-7", resource_link_id="link-quiz-2", resource_title="Quiz two",
                                    custom={"lesson": "model-monitoring"}, use_lineitems=True),
            "retry": LaunchPlan(sub="learner-9", resource_link_id="link-quiz-3", resource_title="Quiz three",
                                custom={"lesson": "model-monitoring"}),
            "deeplink": LaunchPlan(message_type="LtiDeepLinkingRequest", sub="teacher-1"),
        })
        yield Site(platform, tool, store, guide)
        store.close()
    platform.stop()


def login(site: Site, hint: str = "quiz") -> tuple[str, str]:
    """The tool's login initiation, as the platform starts it; the (state, nonce) the tool sent to the platform's auth URL."""
    response = httpx.get(site.platform.login_url(hint), follow_redirects=False, timeout=30)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(site.platform.url + "/auth?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["redirect_uri"] == f"{site.tool}/lti/launch" and query["client_id"] == site.platform.client_id
    assert query["response_mode"] == "form_post" and query["scope"] == "openid" and query["prompt"] == "none"
    return query["state"], query["nonce"]


def post_launch(site: Site, id_token: str, state: str) -> httpx.Response:
    # A good launch answers 303 to its GET page (/lti/guide?launch=...); the response here is that page.
    return httpx.post(f"{site.tool}/lti/launch", data={"id_token": id_token, "state": state}, timeout=60, follow_redirects=True)


def launch_token(response: httpx.Response) -> str:
    marker = 'data-launch="'
    start = response.text.index(marker) + len(marker)
    return response.text[start:response.text.index('"', start)]


def launched(site: Site, hint: str = "quiz") -> str:
    state, nonce = login(site, hint)
    plan = site.platform.plans[hint]
    response = post_launch(site, site.platform.sign(site.platform.claims(plan, nonce)), state)
    assert response.status_code == 200, response.text
    return launch_token(response)


def finish_quiz(site: Site, token: str, *, replay_last: bool = False) -> list[dict]:
    """A whole lesson quiz through the API as the launched page does it (the launch header, every reply right)."""
    headers = {"X-Course-Guide-Launch": token}
    items = course_items(site.guide)
    turn = httpx.post(f"{site.tool}/api/quiz", json={"n": 3, "lesson": "model-monitoring", "learner": "launch", "channel": "widget"},
                      headers=headers, timeout=60).json()
    turns = [turn]
    last_body = None
    while not turn["finished"]:
        item = items[turn["question"]["item_id"]]
        last_body = {"session": turn["session"], "reply": item.answer, "learner": "launch", "channel": "widget"}
        turn = httpx.post(f"{site.tool}/api/quiz/reply", json=last_body, headers=headers, timeout=60).json()
        turns.append(turn)
    if replay_last:
        turns.append(httpx.post(f"{site.tool}/api/quiz/reply", json=last_body, headers=headers, timeout=60).json())
    return turns


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)


def scores_for(site: Site, sub: str) -> list[dict]:
    return [s for s in site.platform.scores if s["userId"] == sub]


# --------------------------------------------------------------------------------- registration and keys

def test_the_jwks_is_public_and_the_launch_page_is_framed_only_by_the_registered_platform(site):
    keys = httpx.get(f"{site.tool}/lti/jwks.json", timeout=30).json()["keys"]
    assert keys and all(k["kty"] == "RSA" and k["alg"] == "RS256" and k["kid"] and "d" not in k for k in keys), "public halves only"
    response = httpx.get(site.platform.login_url("course"), follow_redirects=False, timeout=30)
    assert response.status_code == 302 and "set-cookie" not in response.headers, "the login sets no cookie"
    posted = httpx.post(f"{site.tool}/lti/login", data=dict(parse_qs(urlsplit(site.platform.login_url("course")).query)),
                        follow_redirects=False, timeout=30)
    assert posted.status_code == 303 and posted.headers["location"].startswith(site.platform.url + "/auth?"), "a POSTed login works too"
    state, nonce = login(site, "course")
    page = post_launch(site, site.platform.sign(site.platform.claims(site.platform.plans["course"], nonce)), state)
    assert page.status_code == 200 and "set-cookie" not in page.headers
    assert page.headers["content-security-policy"] == f"frame-ancestors 'self' {site.platform.url}"
    assert 'data-open="true"' in page.text and 'data-lesson' not in page.text, "a course link opens the whole course"


def test_the_launched_page_is_a_get_that_reloads_and_an_ended_launch_says_so(site):
    token = launched(site, "course")
    again = httpx.get(f"{site.tool}/lti/guide", params={"launch": token}, timeout=30)
    assert again.status_code == 200 and 'data-launch="' in again.text, "a reload shows the guide again"
    assert again.headers["referrer-policy"] == "no-referrer" and "set-cookie" not in again.headers
    for bad in ("", "not-a-token", token[:-4] + "AAAA"):
        ended = httpx.get(f"{site.tool}/lti/guide", params={"launch": bad}, timeout=30)
        assert ended.status_code == 401 and "launch_ended" in ended.text and "Traceback" not in ended.text, bad
        assert "from your course again" in ended.text


def test_cli_info_register_list_remove(tmp_path):
    env = {"COURSE_GUIDE_STATE_DIR": str(tmp_path / "state"), "COURSE_GUIDE_PUBLIC_URL": "https://guide.example.edu"}
    runner = CliRunner()
    info = runner.invoke(main, ["lti", "info", "--json"], env=env)
    assert info.exit_code == 0, info.output
    data = json.loads(info.output)
    assert data["login"] == "https://guide.example.edu/lti/login" and data["jwks"] == "https://guide.example.edu/lti/jwks.json"
    assert data["launch"] == data["deep_link"] == "https://guide.example.edu/lti/launch"
    assert data["public_jwks"]["keys"][0]["kty"] == "RSA"
    again = json.loads(runner.invoke(main, ["lti", "info", "--json"], env=env).output)
    assert again["public_jwks"] == data["public_jwks"], "the key pair is made once and kept"
    args = ["lti", "register", "--issuer", "https://canvas.instructure.com", "--client-id", "10000000000001",
            "--deployment-id", "1:abc", "--auth-url", "https://sso.canvaslms.com/api/lti/authorize_redirect",
            "--token-url", "https://sso.canvaslms.com/login/oauth2/token", "--jwks-url", "https://sso.canvaslms.com/api/lti/security/jwks"]
    assert runner.invoke(main, args, env=env).exit_code == 0
    listed = json.loads(runner.invoke(main, ["lti", "list", "--json"], env=env).output)
    assert [p["client_id"] for p in listed] == ["10000000000001"] and listed[0]["deployment_ids"] == ["1:abc"]
    bad = runner.invoke(main, [*args[:-1], "not a url"], env=env)
    assert bad.exit_code != 0 and "--jwks-url 'not a url' is not an http(s) URL" in bad.output and "Traceback" not in bad.output
    assert runner.invoke(main, ["lti", "remove", "--issuer", "https://canvas.instructure.com", "--client-id", "10000000000001"], env=env).exit_code == 0
    gone = runner.invoke(main, ["lti", "remove", "--issuer", "https://canvas.instructure.com", "--client-id", "10000000000001"], env=env)
    assert gone.exit_code != 0 and "No registration" in gone.output


def test_migration_0004_on_sqlite_and_postgresql_keeps_registrations_and_goes_back(store_url):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    from app.insights.store import MIGRATIONS

    store = InteractionStore(store_url)
    registry.register(store, issuer="https://moodle.example.edu", client_id="abc", deployment_ids=["1"],
                      auth_login_url="https://moodle.example.edu/mod/lti/auth.php", token_url="https://moodle.example.edu/mod/lti/token.php",
                      jwks_url="https://moodle.example.edu/mod/lti/certs.php")
    kid = registry.tool_key(store).kid
    store.close()
    again = InteractionStore(store_url)  # a restart or a second replica: the same registration and the same key
    assert [p.client_id for p in registry.platforms(again)] == ["abc"] and registry.tool_key(again).kid == kid
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with again.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
    assert not {"lti_platforms", "lti_grades"} & set(inspect(again.engine).get_table_names())
    again.close()
    back = InteractionStore(store_url)
    assert "lti_grades" in inspect(back.engine).get_table_names() and registry.platforms(back) == []
    back.close()


# --------------------------------------------------------------------------------- rejected launches, by name

def _claims(site: Site, nonce: str, **changes) -> dict:
    claims = site.platform.claims(site.platform.plans["course"], nonce)
    claims.update(changes)
    return claims


def _rejected(response: httpx.Response, kind: str, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert f'data-refusal="{kind}"' in response.text and "Tell your instructor" in response.text
    assert "Traceback" not in response.text and 'File "' not in response.text


def test_rejected_bad_signature(site):
    state, nonce = login(site, "course")
    forged = site.platform.sign(_claims(site, nonce), key=new_key())  # the platform's kid, another key
    _rejected(post_launch(site, forged, state), "bad_signature", 401)


def test_rejected_wrong_audience(site):
    state, nonce = login(site, "course")
    _rejected(post_launch(site, site.platform.sign(_claims(site, nonce, aud="another-tool")), state), "wrong_audience", 403)


def test_rejected_replayed_nonce(site):
    state, nonce = login(site, "course")
    token = site.platform.sign(_claims(site, nonce))
    assert post_launch(site, token, state).status_code == 200
    _rejected(post_launch(site, token, state), "replayed_nonce", 401)
    other_state, _other_nonce = login(site, "course")  # a fresh login does not make the old id_token good again
    _rejected(post_launch(site, token, other_state), "replayed_nonce", 401)


def test_rejected_expired_token(site):
    state, nonce = login(site, "course")
    past = int(time.time()) - 7200
    _rejected(post_launch(site, site.platform.sign(_claims(site, nonce, iat=past, exp=past + 300)), state), "expired_token", 401)


def test_rejected_unknown_deployment(site):
    state, nonce = login(site, "course")
    claims = _claims(site, nonce, **{"https://purl.imsglobal.org/spec/lti/claim/deployment_id": "deployment-999"})
    _rejected(post_launch(site, site.platform.sign(claims), state), "unknown_deployment", 403)


def test_rejected_unknown_issuer(site):
    state, nonce = login(site, "course")
    _rejected(post_launch(site, site.platform.sign(_claims(site, nonce, iss="https://lms.unknown.example")), state), "unknown_issuer", 403)
    unknown_login = httpx.get(f"{site.tool}/lti/login", params={"iss": "https://lms.unknown.example", "login_hint": "x",
                                                               "target_link_uri": f"{site.tool}/lti/launch"}, timeout=30)
    _rejected(unknown_login, "unknown_issuer", 403)


def test_rejected_state_that_no_login_made_and_a_token_that_is_not_a_jwt(site):
    _state, nonce = login(site, "course")
    _rejected(post_launch(site, site.platform.sign(_claims(site, nonce)), "made-up-state"), "unknown_state", 401)
    _rejected(post_launch(site, "not-a-jwt", "whatever"), "malformed_token", 400)


def test_the_api_refuses_an_expired_launch_token(site):
    from app.lti import tokens

    identity = tokens.read_launch_token(site.store, launched(site, "course"))
    expired = tokens.issue_launch_token(site.store, identity, ttl_s=-10)
    response = httpx.post(f"{site.tool}/api/ask", json={"question": "What is drift?"}, headers={"X-Course-Guide-Launch": expired}, timeout=30)
    assert response.status_code == 401 and response.json()["error"].startswith("This course launch has expired")


def test_the_api_refuses_an_altered_launch_token(site):
    token = launched(site, "course")
    altered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = httpx.post(f"{site.tool}/api/quiz", json={"n": 1}, headers={"X-Course-Guide-Launch": altered}, timeout=30)
    assert response.status_code == 401 and "open Course Guide from your course again" in response.json()["error"]


# --------------------------------------------------------------------------------- grades (AGS)

def test_a_finished_quiz_sends_its_score_once_even_when_its_last_reply_comes_twice(site):
    turns = finish_quiz(site, launched(site, "quiz"), replay_last=True)
    assert turns[-2]["grade"] == "queued" and turns[-1]["grade"] == "already sent"
    wait_for(lambda: len(scores_for(site, "learner-42")) == 1)
    time.sleep(1.0)  # the sender runs every 0.3 s: a second send would have happened by now
    [score] = scores_for(site, "learner-42")
    assert score["scoreGiven"] == 3 and score["scoreMaximum"] == 3
    assert score["activityProgress"] == "Completed" and score["gradingProgress"] == "FullyGraded"
    assert score["lineitem"] == f"{site.platform.url}/lineitems/link-quiz-1"
    assert score["content_type"] == "application/vnd.ims.lis.v1.score+json"
    sent = [g for g in grades.outbox(site.store) if g["label"] == "Monitoring quiz"]
    assert len(sent) == 1 and sent[0]["sent_at"] and sent[0]["tries"] == 1


def test_a_refused_score_is_retried_and_recorded_exactly_once(site):
    site.platform.score_failures_left = 1
    finish_quiz(site, launched(site, "retry"))
    wait_for(lambda: len(scores_for(site, "learner-9")) == 1)
    time.sleep(1.0)
    assert len(scores_for(site, "learner-9")) == 1
    [row] = [g for g in grades.outbox(site.store) if g["label"] == "Quiz three"]
    assert row["tries"] == 2 and row["sent_at"] and row["last_error"] is None
    assert site.platform.score_failures_left == 0


def test_a_launch_with_only_the_lineitems_container_gets_its_own_line_item(site):
    finish_quiz(site, launched(site, "container"))
    wait_for(lambda: len(scores_for(site, "learner-7")) == 1)
    [score] = scores_for(site, "learner-7")
    item = site.platform.lineitems[score["lineitem"]]
    assert item["resourceLinkId"] == "link-quiz-2" and item["label"] == "Quiz two" and item["tag"] == "course-guide-quiz"


def test_learner_records_hold_only_an_opaque_id(site):
    from app.insights import progress

    rows = progress.attempts(site.store)
    assert rows and all(r["learner"].startswith("lti-") and "learner-42" not in r["learner"] for r in rows)
    with site.store.session() as session:
        from sqlalchemy import select

        from app.insights.models import LtiGrade

        kept = session.execute(select(LtiGrade.user_id).where(LtiGrade.sent_at.is_not(None))).scalars().all()
    assert kept and all(user is None for user in kept), "the platform's user id is dropped once the score is sent"


# --------------------------------------------------------------------------------- in Chromium, framed cross-site

def _frame_context(browser):
    return browser.new_context(viewport={"width": 1000, "height": 900}, color_scheme="light")


def test_launch_ask_and_quiz_in_a_cross_site_iframe_with_no_cookies(browser, site):
    SCREENSHOTS.mkdir(exist_ok=True)
    context = _frame_context(browser)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(str(err)))
    before = len(scores_for(site, "learner-42"))
    site.platform.plans["browser"] = LaunchPlan(resource_link_id="link-quiz-browser", resource_title="Browser quiz",
                                                custom={"lesson": "model-monitoring"})
    page.goto(f"{site.platform.url}/course?hint=browser")
    frame = page.frame_locator("#tool")
    frame.locator("#cg-title").wait_for(timeout=30_000)
    tool_frame = next(f for f in page.frames if f.url.startswith(site.tool))
    assert tool_frame.url.startswith(f"{site.tool}/lti/guide?launch="), "the launch POST was redirected to a GET page"
    # The framed page really has no cookies: a write does not stick (the platform's page, first-party, keeps its own).
    assert tool_frame.evaluate("() => { document.cookie = 'probe=1; path=/'; return document.cookie; }") == ""
    assert page.evaluate("() => { document.cookie = 'probe=1; path=/'; return document.cookie; }") == "probe=1"
    assert "Model Monitoring" in frame.locator("#cg-title").text_content()
    widget = frame.locator("#course-guide-widget")
    widget.locator("#cg-question").fill("What is data drift?")
    widget.locator("#cg-question").press("Enter")
    answer = widget.locator(".msg.bot").last
    answer.locator("a").first.wait_for(timeout=60_000)
    assert "drift" in answer.text_content().lower()
    widget.locator("button.quiz-me").click()
    items = course_items(site.guide)
    question = widget.locator(".quiz .question")
    for _ in range(20):
        if widget.locator(".quiz .summary").count():
            break
        question.wait_for(timeout=30_000)
        text = question.text_content()
        item = next(i for i in items.values() if i.question in text)
        if item.choices:
            widget.locator(".quiz .choices button", has_text=item.answer).first.click()
        else:
            widget.locator("#cg-quiz-answer").fill(item.answer)
            widget.locator("#cg-quiz-answer").press("Enter")
        widget.locator(".quiz-feedback p").first.wait_for(timeout=30_000)
        page.wait_for_timeout(200)
    widget.locator(".quiz .grade").wait_for(timeout=30_000)
    assert "gradebook" in widget.locator(".quiz .grade").text_content()
    page.screenshot(path=str(SCREENSHOTS / "lti-launch-in-platform-iframe.png"), full_page=True)
    wait_for(lambda: len([s for s in site.platform.scores if s["lineitem"].endswith("/link-quiz-browser")]) == 1)
    time.sleep(1.0)
    browser_scores = [s for s in site.platform.scores if s["lineitem"].endswith("/link-quiz-browser")]
    assert len(browser_scores) == 1 and browser_scores[0]["scoreGiven"] == browser_scores[0]["scoreMaximum"]
    assert len(scores_for(site, "learner-42")) == before + 1
    assert context.cookies(site.tool) == [], "the browser holds no cookie of the tool"
    tool_frame.goto(tool_frame.url)  # the learner reloads the frame: the guide again, not a "replayed launch" page
    frame.locator("#cg-title").wait_for(timeout=30_000)
    assert frame.locator("main.refused").count() == 0
    assert problems == []
    context.close()


def test_a_refused_launch_shows_its_page_inside_the_platform_frame(browser, site):
    SCREENSHOTS.mkdir(exist_ok=True)
    site.platform.plans["otherdeploy"] = LaunchPlan(deployment_id="deployment-999", ags=False)
    context = _frame_context(browser)
    page = context.new_page()
    page.goto(f"{site.platform.url}/course?hint=otherdeploy")
    refusal = page.frame_locator("#tool").locator("main.refused")
    refusal.wait_for(timeout=30_000)
    assert refusal.get_attribute("data-refusal") == "unknown_deployment"
    assert "--deployment-id deployment-999" in refusal.text_content()
    page.screenshot(path=str(SCREENSHOTS / "lti-refused-launch.png"), full_page=True)
    context.close()


def test_deep_linking_picker_returns_a_signed_lesson_link(browser, site):
    SCREENSHOTS.mkdir(exist_ok=True)
    context = _frame_context(browser)
    page = context.new_page()
    page.goto(f"{site.platform.url}/course?hint=deeplink")
    frame = page.frame_locator("#tool")
    button = frame.locator("button", has_text="Model Monitoring")
    button.first.wait_for(timeout=30_000)
    assert frame.locator("button", has_text="Whole course").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "lti-deep-linking-picker.png"), full_page=True)
    before = len(site.platform.deep_link_responses)
    button.first.click()
    frame.locator("#added").wait_for(timeout=30_000)
    assert len(site.platform.deep_link_responses) == before + 1
    claims = site.platform.deep_link_responses[-1]
    assert claims["https://purl.imsglobal.org/spec/lti/claim/message_type"] == "LtiDeepLinkingResponse"
    assert claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"] == "platform-opaque-data"
    [item] = claims["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"]
    assert item["type"] == "ltiResourceLink" and item["url"] == f"{site.tool}/lti/launch" and item["custom"] == {"lesson": LESSON}
    # The placed link launches that lesson's guide.
    site.platform.plans["placed"] = LaunchPlan(resource_link_id="placed-link", custom=item["custom"], ags=False)
    state, nonce = login(site, "placed")
    page_html = post_launch(site, site.platform.sign(site.platform.claims(site.platform.plans["placed"], nonce)), state)
    assert page_html.status_code == 200 and f'data-lesson="{LESSON}"' in page_html.text
    context.close()
