"""The web server: the Gradio chat at /, and the course documents at /course/... so that citation links open the cited passage."""
from __future__ import annotations

import logging
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse

from app.engine.guide import Guide
from app.insights.recording import Recorder
from app.insights.store import InteractionStore
from app.lti.routes import LtiTool, mount_lti
from app.web.lessons import contents_page, indexed_lesson_page, lesson_page, resolve_course_file
from app.web.security import RateLimits
from core.settings import Settings
from core.store import IndexUnusableError
from ingest.loaders import BadFileError

if TYPE_CHECKING:
    from app.web.courses import Deployment

log = logging.getLogger("course_guide")

NO_CHAT_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Course Guide</title></head><body>
<h1>Course Guide</h1><p>This server answers through its API and the course-page widget; the chat page is not served here.
See <a href="/api/docs">the API</a> and <a href="/course/">the course documents</a>.</p></body></html>"""

def create_app(guide: Guide, recorder: Recorder | None = None, *, chat: bool = True, rate_limits: RateLimits | None = None) -> FastAPI:
    """One ASGI app: lesson view and Gradio chat share a process, a port and the loaded model.

    `recorder` records the chat's, the widget's and the API's answers (default: one for the guide's settings).
    `chat=False` leaves the Gradio chat out (`serve --workers N --no-chat`): `/` then says where the API is."""
    from app.insights.progress import merge_learners
    from app.web.api import mount_api
    from app.web.instructor import mount_instructor
    from app.web.learner import LearnerCookieMiddleware

    recorder = recorder or Recorder(guide.settings)
    lti = LtiTool(guide, lti_store(recorder))

    api = FastAPI(title="Course Guide", docs_url=None, redoc_url=None)
    root = guide.settings.course_path()  # a registered course is served under /c/NAME (app.web.courses)

    @api.get("/course/{relative:path}", include_in_schema=False)
    def course_document(relative: str):
        try:
            manifest = guide.index.refresh()
        except IndexUnusableError:
            manifest = None
        files = manifest.files if manifest else {}
        if not relative:
            return HTMLResponse(contents_page(files, root))
        def from_the_index(problem: str) -> HTMLResponse:
            """The last good version, as indexed, when the file has turned bad or gone since the ingest."""
            log.warning("showing %s from the index: %s", relative, problem)
            chunks = [c for c in guide.index.chunks() if c.source == relative]
            return HTMLResponse(indexed_lesson_page(chunks, relative, files[relative].title, problem, root))

        folder = guide.corpus_dir(manifest)
        if relative in files and not (folder / relative).is_symlink() and not (folder / relative).exists():
            return from_the_index("the file is no longer in the course folder")
        path = resolve_course_file(folder, relative, set(files))
        if path.suffix.lower() == ".pdf":
            return FileResponse(path, media_type="application/pdf", content_disposition_type="inline")
        try:
            return HTMLResponse(lesson_page(path, relative, files[relative].title, root))
        except BadFileError as err:
            return from_the_index(str(err))

    mount_api(api, guide, recorder, lti, rate_limits)  # /api, /widget.js and frame-ancestors; before Gradio's catch-all mount at /
    mount_lti(api, guide, lti)
    mount_instructor(api, guide, recorder)
    if recorder.enabled:
        api.add_middleware(LearnerCookieMiddleware, merge=lambda source, target: merge_learners(recorder, source, target))
    if not chat:
        @api.get("/", include_in_schema=False)
        def no_chat() -> HTMLResponse:
            return HTMLResponse(NO_CHAT_PAGE)

        return api
    import gradio as gr

    from app.web.chat import CHAT_CSS, build_chat

    return gr.mount_gradio_app(api, build_chat(guide, recorder), path="", css=CHAT_CSS, theme=gr.themes.Soft(primary_hue="indigo"), footer_links=[])


def create_deployment(
    guide: Guide, recorder: Recorder | None = None, *, chat: bool = True, only: str | None = None, warm: bool = False
) -> Deployment:
    """The whole deployment as one ASGI app: `guide`'s default course as create_app serves it, and every course in the
    registry under /c/NAME/, each built on its first request with the same model and the same store (`only`: serve
    that registered course alone, `serve --course NAME`). With `warm` (serve), each course's guide is warmed
    (Guide.warm) in a background thread as soon as it is built."""
    from app.engine.guide import open_guide
    from app.web.courses import Deployment

    recorder = recorder or Recorder(guide.settings)
    store = lti_store(recorder)
    rate_limits = RateLimits(guide.settings.rate_limit_per_minute, guide.settings.redis_url)  # one count for every course

    def build(settings: Settings) -> tuple[FastAPI, Callable[[], None]]:
        course_guide = open_guide(settings, guide.embedder, require_index=False)
        if warm:
            warm_in_background(course_guide)
        app = create_app(course_guide, recorder.for_course(settings), chat=chat, rate_limits=rate_limits)
        return app, course_guide.index.close

    if warm and only is None:
        warm_in_background(guide)
    return Deployment(create_app(guide, recorder, chat=chat, rate_limits=rate_limits), guide.settings, store, build, only)


def warm_in_background(guide: Guide) -> threading.Thread:
    """Guide.warm in a daemon thread; a course with no usable index yet is not warmed (it says so on each request)."""

    def run() -> None:
        try:
            embedded = guide.warm()
        except IndexUnusableError as err:
            log.info("not warming %s: %s", guide.settings.course or "the default course", err)
            return
        log.info("warmed %s: generated questions of %d chunks embedded", guide.settings.course or "the default course", embedded)

    thread = threading.Thread(target=run, name="course-guide-warm", daemon=True)
    thread.start()
    return thread


def lti_store(recorder: Recorder) -> Callable[[], InteractionStore]:
    """The store LTI keeps its registrations, keys, logins and grades in: the recorder's, or the same database opened
    on its own when recording is off (LTI still needs it)."""
    own: list[InteractionStore] = []
    lock = threading.Lock()

    def store() -> InteractionStore:
        if recorder.enabled:
            return recorder.store()
        with lock:
            if not own:
                own.append(InteractionStore.open(recorder.settings))
            return own[0]

    return store


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen, timeout: float = 20) -> None:
    """End a server child process (tests, benchmarks): SIGTERM, and SIGKILL if it has not gone within `timeout` s."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def serving_in_thread(app: FastAPI, port: int, host: str = "127.0.0.1") -> Iterator[str]:
    """`app` under uvicorn on host:port in a daemon thread, for tests and benchmarks; yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the server on {host}:{port} did not start")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
