"""The LTI endpoints on the guide's app (/lti/login, /lti/launch, /lti/deep-link, /lti/jwks.json) and the LtiTool they share.

Starlette requests are read directly (form posts and query strings): no framework adapter of an LTI library is needed."""
from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import SQLAlchemyError

from app.engine.guide import Guide
from app.engine.questions import UnknownLessonError
from app.insights.store import InteractionStore, StoreError
from app.lti import deep_linking, grades, launch, pages, registry, tokens
from app.lti.launch import AGS_ENDPOINT, CONTEXT, CUSTOM, RESOURCE_LINK, TARGET_LINK_URI, LaunchRejected
from app.lti.tokens import LaunchIdentity, LaunchTokenError
from app.quiz.session import QuizSession
from core.store import IndexUnusableError

log = logging.getLogger("course_guide")

LAUNCH_HEADER = "x-course-guide-launch"


class LtiTool:
    """What the LTI endpoints and the API share: the settings' URLs, the store, and the grade sender."""

    def __init__(self, guide: Guide, store_factory: Callable[[], InteractionStore]):
        self.guide = guide
        self.settings = guide.settings
        self.store = store_factory
        self.sender = grades.GradeSender(store_factory, retry_s=self.settings.lti_grade_retry_s, every_s=self.settings.lti_grade_retry_s)

    def url(self, path: str) -> str:
        return self.settings.base_url() + path

    def urls(self) -> dict[str, str]:
        return registry.tool_urls(self.settings.base_url())

    def frame_policy(self) -> str:
        """`frame-ancestors` for LTI pages: the registered platforms' origins only (and the tool itself)."""
        origins = sorted({origin for platform in registry.platforms(self.store()) for origin in platform.origins()})
        return " ".join(["frame-ancestors 'self'", *origins])

    def identity(self, token: str) -> LaunchIdentity:
        return tokens.read_launch_token(self.store(), token, self.settings.course_key())

    def quiz_finished(self, identity: LaunchIdentity, session: QuizSession, stored_scores: list[float] | None) -> bool:
        """Put a quiz finished in a launch into the grade outbox and wake the sender; False if it is there already.

        The score is the server's own grades of the session's stored attempts (never a score the page sends); with
        recording off, the session's own results."""
        if not identity.sends_grades or session.session_id is None:
            return False
        given = sum(stored_scores) if stored_scores is not None else session.score
        maximum = max(session.total(), len(stored_scores or []), 1)
        added = grades.enqueue(self.store(), identity, session.session_id, given, maximum)
        if added:
            self.sender.wake()
        return added


def _html(content: str, tool: LtiTool, status: int = 200) -> HTMLResponse:
    try:
        policy = tool.frame_policy()
    except (StoreError, SQLAlchemyError):
        policy = "frame-ancestors 'self'"
    return HTMLResponse(content, status_code=status, headers={"Content-Security-Policy": policy, "Cache-Control": "no-store",
                                                               "Referrer-Policy": "no-referrer"})


def _refused(tool: LtiTool, err: LaunchRejected) -> HTMLResponse:
    log.info("LTI launch refused: %s", err)
    return _html(pages.refusal_page(err.kind, err.title, err.detail), tool, err.status)


def _store_down(tool: LtiTool, err: Exception) -> HTMLResponse:
    log.error("LTI: the store is unavailable: %s", err)
    return _html(pages.refusal_page("store_unavailable", "Course Guide cannot open its records",
                                    "The tool's database is unavailable right now. Try again in a few minutes; if it persists, tell "
                                    "your instructor."), tool, 503)


def _lesson_hint(claims: dict) -> str | None:
    custom = claims.get(CUSTOM) or {}
    if isinstance(custom, dict) and str(custom.get("lesson") or "").strip() and not str(custom["lesson"]).startswith("$"):
        return str(custom["lesson"]).strip()
    target = str(claims.get(TARGET_LINK_URI) or "")
    found = parse_qs(urlsplit(target).query).get("lesson")
    return found[0] if found else None


def mount_lti(app: FastAPI, guide: Guide, tool: LtiTool) -> None:
    """Add the LTI endpoints to `app` (before Gradio's catch-all mount)."""

    @app.get("/lti/jwks.json", include_in_schema=False)
    def lti_jwks() -> Response:
        try:
            keys = registry.jwks(tool.store())
        except (StoreError, SQLAlchemyError) as err:
            log.error("LTI: no JWKS, the store is unavailable: %s", err)
            return JSONResponse({"error": "The tool's keys are unavailable right now; try again later."}, status_code=503)
        return JSONResponse(keys, headers={"Cache-Control": "public, max-age=300"})

    @app.api_route("/lti/login", methods=["GET", "POST"], include_in_schema=False)
    async def lti_login(request: Request) -> Response:
        params = dict(request.query_params)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.form()).items()})
        try:
            target = launch.begin_login(tool.store(), params, tool.urls()["launch"])
        except LaunchRejected as err:
            return _refused(tool, err)
        except (StoreError, SQLAlchemyError) as err:
            return _store_down(tool, err)
        return RedirectResponse(target, status_code=302 if request.method == "GET" else 303, headers={"Cache-Control": "no-store"})

    @app.post("/lti/launch", include_in_schema=False)
    async def lti_launch(request: Request) -> Response:
        tool.sender.start()  # from the first launch on, grades left unsent (by this or an earlier run) go out
        form = await request.form()
        try:
            store = tool.store()
            done = launch.validate_launch(store, str(form.get("id_token") or ""), str(form.get("state") or ""))
            if done.message_type == "LtiDeepLinkingRequest":
                return _picker(store, done)
            return _guide_for(store, done)
        except LaunchRejected as err:
            return _refused(tool, err)
        except (StoreError, SQLAlchemyError) as err:
            return _store_down(tool, err)

    def _guide_for(store: InteractionStore, done: launch.Launch) -> Response:
        claims = done.claims
        try:
            lesson = guide.resolve_lesson(_lesson_hint(claims))
            guide.index.refresh()  # the course must be ready before a launch is handed out
        except UnknownLessonError as err:
            raise LaunchRejected("unknown_lesson", "This link names a lesson the course does not have",
                                 f"{err} Ask your instructor to pick the lesson again in the platform's content picker.", 404) from None
        except IndexUnusableError as err:
            raise LaunchRejected("no_index", "The course is not ready", f"{err}", 503) from None
        ags = claims.get(AGS_ENDPOINT) or {}
        link = claims.get(RESOURCE_LINK) or {}
        context = claims.get(CONTEXT) or {}
        key = registry.tool_key(store)
        can_grade = bool(ags.get("lineitem") or ags.get("lineitems"))
        identity = LaunchIdentity(
            launch_id=tokens.new_launch_id(), learner=key.learner_id(done.platform.issuer, str(claims["sub"])),
            issuer=done.platform.issuer, client_id=done.platform.client_id, deployment_id=done.deployment_id, lesson=lesson,
            resource_link_id=str(link.get("id")) if link.get("id") else None,
            title=str(link.get("title") or context.get("title") or "Course Guide quiz"),
            user_id=str(claims["sub"]) if can_grade else None, lineitem=ags.get("lineitem"), lineitems=ags.get("lineitems"),
            scopes=tuple(ags.get("scope") or ()))
        token = tokens.issue_launch_token(store, identity, int(tool.settings.lti_launch_hours * 3600), tool.settings.course_key())
        # Post/redirect/get: the frame lands on a GET page, so reloading it shows the guide again instead of re-posting
        # the spent id_token (which the nonce check would refuse as a replay).
        return RedirectResponse(tool.settings.course_path() + "/lti/guide?" + urlencode({"launch": token}), status_code=303,
                                headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

    @app.get("/lti/guide", include_in_schema=False)
    def lti_guide(launch_token: str = Query("", alias="launch", max_length=8000)) -> Response:
        try:
            identity = tool.identity(launch_token)
            files = guide.index.refresh().files
        except LaunchTokenError as err:
            return _refused(tool, LaunchRejected("launch_ended", "This launch has ended", str(err), 401))
        except IndexUnusableError as err:
            return _refused(tool, LaunchRejected("no_index", "The course is not ready", f"{err}", 503))
        except (StoreError, SQLAlchemyError) as err:
            return _store_down(tool, err)
        lesson = identity.lesson
        title = files[lesson].title if lesson and lesson in files else None
        page = pages.guide_page(course=tool.settings.course_label(), lesson_title=title, lesson=lesson, launch_token=launch_token,
                                widget_url=tool.url("/widget.js"), course_id=tool.settings.course)
        return _html(page, tool)

    def _picker(store: InteractionStore, done: launch.Launch) -> Response:
        try:
            settings = deep_linking.picker_settings(done.claims)
        except ValueError as err:
            raise LaunchRejected("bad_deep_link", "The content picker request is incomplete",
                                 f"The platform's request lacks what the tool needs ({err}).") from None
        try:
            files = guide.index.refresh().files
        except IndexUnusableError as err:
            raise LaunchRejected("no_index", "The course is not ready", f"{err}", 503) from None
        token = tokens.issue_deep_link_token(store, issuer=done.platform.issuer, client_id=done.platform.client_id,
                                             deployment_id=done.deployment_id, return_url=settings["deep_link_return_url"],
                                             data=settings.get("data"))
        lessons = [(source, entry.title) for source, entry in sorted(files.items())]
        return _html(pages.picker_page(course=tool.settings.course_label(), lessons=lessons, deep_link_token=token,
                                       action=tool.url("/lti/deep-link")), tool)

    @app.post("/lti/deep-link", include_in_schema=False)
    async def lti_deep_link(request: Request) -> Response:
        form = await request.form()
        try:
            store = tool.store()
            picked = tokens.read_deep_link_token(store, str(form.get("token") or ""))
            lesson = guide.resolve_lesson(str(form.get("lesson") or "") or None)
            files = guide.index.refresh().files
        except LaunchTokenError as err:
            return _refused(tool, LaunchRejected("expired_picker", "The content picker has expired", str(err), 401))
        except UnknownLessonError as err:
            return _refused(tool, LaunchRejected("unknown_lesson", "No such lesson", str(err), 404))
        except (StoreError, SQLAlchemyError) as err:
            return _store_down(tool, err)
        title = f"Course Guide: {files[lesson].title}" if lesson and lesson in files else f"Course Guide: {tool.settings.course_label()}"
        item = deep_linking.content_item(launch_url=tool.urls()["launch"], title=title, lesson=lesson)
        signed = deep_linking.response_jwt(store, issuer=picked["iss_platform"], client_id=picked["client_id"],
                                           deployment_id=picked["deployment_id"], data=picked.get("data"), items=[item])
        return _html(pages.auto_post_page(picked["return_url"], {"JWT": signed}, f"Adding “{title}” to your course…"), tool)
