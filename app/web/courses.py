"""Many courses on one server: every registered course's own app (chat, lessons, API, widget calls, instructor pages) under
/c/NAME/, built on its first request from the course registry; the list of courses at /; API calls naming a "course".

A course is looked up in the registry (the shared SQL store) on every request, so a course added, changed or removed
by `course-guide course ...` on any machine is served, rebuilt or gone on the next request, with no restart."""
from __future__ import annotations

import asyncio
import html
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qs, quote

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.courses import CourseRecord, course_settings, get_course, list_courses
from app.insights.store import InteractionStore
from app.web.security import send_json_error
from core.settings import COURSE_NAME, COURSE_PATH_PREFIX, MAX_COURSE_NAME_CHARS, Settings
from core.store import IndexUnusableError

log = logging.getLogger("course_guide")

# Builds the app of one registered course from its settings (app.web.server.create_app with the shared model).
AppBuilder = Callable[[Settings], ASGIApp]
JSON_TYPES = (b"application/json",)


@dataclass
class _Served:
    """One registered course's app as built from its registry entry, and the task that holds its lifespan open."""

    updated_at: datetime
    app: ASGIApp
    close: Callable[[], None]
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None

    async def start(self) -> None:
        """Run the app's lifespan (its Gradio chat starts its queue there) in a task of its own, which also ends it:
        an async context must be left in the task that entered it, and requests come in many tasks."""
        lifespan = getattr(getattr(self.app, "router", None), "lifespan_context", None)
        if lifespan is None:
            return
        started = asyncio.Event()

        async def hold() -> None:
            async with lifespan(self.app):
                started.set()
                await self.stop.wait()

        self.task = asyncio.create_task(hold())
        waiting = asyncio.create_task(started.wait())
        await asyncio.wait({self.task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if not started.is_set():
            waiting.cancel()
            self.task.result()  # the lifespan failed: raise its error here

    async def end(self) -> None:
        self.stop.set()
        try:
            if self.task is not None:
                await self.task
        finally:
            self.close()


@dataclass
class Deployment:
    """The ASGI app of a deployment: the default course's app at /, and each registered course's at /c/NAME/."""

    default_app: ASGIApp
    settings: Settings
    store: Callable[[], InteractionStore]
    build: Callable[[Settings], tuple[ASGIApp, Callable[[], None]]]
    only: str | None = None  # `serve --course NAME`: serve that course alone
    _served: dict[str, _Served] = field(default_factory=dict)
    _lock: anyio.Lock = field(default_factory=anyio.Lock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.default_app(scope, self._closing_on_shutdown(receive), send)
            return
        if scope["type"] not in ("http", "websocket"):
            await self.default_app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(COURSE_PATH_PREFIX):
            name, slash, rest = path[len(COURSE_PATH_PREFIX):].partition("/")
            if not slash and scope["type"] == "http":  # Gradio's page needs the trailing slash to find its assets
                await _redirect(send, f"{COURSE_PATH_PREFIX}{quote(name)}/")
                return
            if rest.startswith("api/") and scope["type"] == "http":
                named, receive = await _named_course(scope, receive, self.settings.max_request_bytes)
                if named and named != name:
                    await send_json_error(send, 422, f"This call went to course {name!r} (/c/{name}/) but names course {named!r}; "
                                           "drop the \"course\" field or call that course's path.")
                    return
            await self._serve_course(name, scope, receive, send)
            return
        if path == "/" and scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            if self.only is not None:
                await _redirect(send, f"{COURSE_PATH_PREFIX}{self.only}/")
                return
            courses = await anyio.to_thread.run_sync(self._courses)
            if courses:
                await _html(send, 200, course_list_page(courses, self.settings))
                return
        if path.startswith("/api/") and scope["type"] == "http":
            named, receive = await _named_course(scope, receive, self.settings.max_request_bytes)
            if named:
                forwarded = dict(scope, path=f"{COURSE_PATH_PREFIX}{named}{path}",
                                 raw_path=f"{COURSE_PATH_PREFIX}{named}{path}".encode())
                await self._serve_course(named, forwarded, receive, send)
                return
        await self.default_app(scope, receive, send)

    def _courses(self) -> list[CourseRecord]:
        courses = list_courses(self.store())
        return [c for c in courses if c.name == self.only] if self.only is not None else courses

    async def _serve_course(self, name: str, scope: Scope, receive: Receive, send: Send) -> None:
        served = await self._course_app(name) if _valid_name(name) else None
        if served is None:
            await _not_found(scope, send, name)
            return
        prefix = f"{COURSE_PATH_PREFIX}{name}"
        await served.app(dict(scope, root_path=scope.get("root_path", "") + prefix), receive, send)

    async def _course_app(self, name: str) -> _Served | None:
        """The app of course `name` as the registry has it now: built (or rebuilt, if its entry changed) on demand;
        None, and the old app closed, once the course is gone from the registry."""
        if self.only is not None and name != self.only:
            return None
        course = await anyio.to_thread.run_sync(get_course, self.store(), name)
        async with self._lock:
            served = self._served.get(name)
            if served is not None and (course is None or course.updated_at != served.updated_at):
                del self._served[name]
                await _close(served, name)
                served = None
            if course is None:
                return None
            if served is None:
                app, close = await anyio.to_thread.run_sync(self.build, course_settings(self.settings, course))
                served = _Served(course.updated_at, app, close)
                await served.start()
                self._served[name] = served
                log.info("serving course %s at %s%s/", name, COURSE_PATH_PREFIX, name)
            return served

    def _closing_on_shutdown(self, receive: Receive) -> Receive:
        async def receiving() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                async with self._lock:
                    for name, served in list(self._served.items()):
                        await _close(served, name)
                    self._served.clear()
            return message

        return receiving


async def _close(served: _Served, name: str) -> None:
    """End one course app: its lifespan (Gradio's queue), then its index readers."""
    await served.end()
    log.info("stopped serving course %s", name)


def _valid_name(name: str) -> bool:
    return len(name) <= MAX_COURSE_NAME_CHARS and COURSE_NAME.fullmatch(name) is not None


async def _named_course(scope: Scope, receive: Receive, max_bytes: int) -> tuple[str | None, Receive]:
    """The course an API call names, in its query (`?course=NAME`) or its JSON body (`"course": "NAME"`), and a
    `receive` that still yields the whole body. None for the default course (or a body over `max_bytes`, which the
    default app then refuses with 413 as it reads on)."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    named = (query.get("course") or [None])[0]
    if named:
        return named, receive
    content_type = next((v for k, v in scope.get("headers", []) if k == b"content-type"), b"")
    if scope["method"] != "POST" or content_type.split(b";")[0].strip().lower() not in JSON_TYPES:
        return None, receive
    read: list[Message] = []
    size, complete = 0, False
    while size <= max_bytes:
        message = await receive()
        read.append(message)
        if message["type"] != "http.request":  # the client went away
            break
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            complete = True
            break
    replay = _replay(read, receive)
    if not complete or size > max_bytes:
        return None, replay
    try:
        data = json.loads(b"".join(m.get("body", b"") for m in read))
    except (ValueError, UnicodeDecodeError):
        return None, replay  # the app answers the bad JSON with its own 422
    course = data.get("course") if isinstance(data, dict) else None
    return (course if isinstance(course, str) and course else None), replay


def _replay(read: list[Message], receive: Receive) -> Receive:
    """A `receive` that first yields the messages already read, then the client's."""
    pending = list(read)

    async def receiving() -> Message:
        return pending.pop(0) if pending else await receive()

    return receiving


async def _redirect(send: Send, location: str) -> None:
    await send({"type": "http.response.start", "status": 307,
                "headers": [(b"location", location.encode()), (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


async def _html(send: Send, status: int, page: str) -> None:
    body = page.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                            (b"content-security-policy", b"frame-ancestors 'self'")]})
    await send({"type": "http.response.body", "body": body})


async def _not_found(scope: Scope, send: Send, name: str) -> None:
    message = (f"There is no course called {name!r} here. The courses this guide serves are listed at /"
               + ("." if scope["type"] == "http" else ""))
    if scope["type"] != "http":
        await send({"type": "websocket.close", "code": 1008})
        return
    path: str = scope["path"]
    if "/api/" in path:
        await send_json_error(send, 404, message)
        return
    await _html(send, 404, _PAGE.format(title="No such course", body=f"<h1>No such course</h1><p>{html.escape(message)} "
                                        '<a href="/">See the courses</a>.</p>'))


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>
body {{ margin: 0; font: 17px/1.6 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2937; background: #f8fafc; }}
main {{ max-width: 52rem; margin: 0 auto; padding: 2rem 1.5rem; }}
h1 {{ margin: 0 0 .3rem; }} p.lead {{ color: #4b5563; margin-top: 0; }}
ul.courses {{ list-style: none; padding: 0; display: grid; gap: 1rem; grid-template-columns: repeat(auto-fill, minmax(15rem, 1fr)); }}
ul.courses li {{ background: #fff; border: 1px solid #e5e7eb; border-radius: 10px; padding: 1rem 1.2rem; }}
ul.courses a.title {{ font-weight: 600; font-size: 1.1rem; color: #4338ca; text-decoration: none; }}
ul.courses a.title:hover {{ text-decoration: underline; }}
ul.courses .meta {{ color: #6b7280; font-size: .9rem; margin: .3rem 0 .5rem; }}
ul.courses .links a {{ margin-right: .9rem; font-size: .95rem; color: #4338ca; }}
</style></head><body><main>{body}</main></body></html>"""


def course_list_page(courses: list[CourseRecord], settings: Settings) -> str:
    """The deployment's front page: every registered course, with its chat and its contents."""
    items = []
    for course in courses:
        base = f"{COURSE_PATH_PREFIX}{quote(course.name)}"
        lessons = _lesson_count(settings, course)
        items.append(
            f'<li><a class="title" href="{base}/">{html.escape(course.title)}</a>'
            f'<div class="meta">{html.escape(course.name)} · {lessons}</div>'
            f'<div class="links"><a href="{base}/">Ask the guide</a><a href="{base}/course/">Contents</a></div></li>')
    return _PAGE.format(title="Course Guide: courses", body=(
        "<h1>Course Guide</h1><p class=\"lead\">Pick a course to ask about it. Every answer quotes that course and links "
        f"to the passage it comes from.</p><ul class=\"courses\">{''.join(items)}</ul>"))


def _lesson_count(settings: Settings, course: CourseRecord) -> str:
    from core.index import open_store

    try:
        manifest = open_store(course_settings(settings, course)).read_manifest()
    except IndexUnusableError:
        manifest = None
    if manifest is None:
        return "not indexed yet"
    count = len(manifest.files)
    return f"{count} lesson{'' if count == 1 else 's'}"
