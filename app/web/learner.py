"""The learner id of one browser: a random value in a first-party cookie for the chat, shared with the widget where the
browser allows it (same site), or carried by the widget's "open the full chat" link (any site); never a name or an address."""
from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LEARNER_COOKIE = "course_guide_learner"
LEARNER_MAX_AGE_S = 180 * 24 * 3600
# What may become a cookie value: the widget's 32 hex digits and the server's token_urlsafe(16) both match.
LINKABLE_LEARNER = re.compile(r"[A-Za-z0-9_-]{16,64}")
# Moves one learner id's records to another (app.insights.progress.merge_learners, bound to the server's recorder).
Merge = Callable[[str, str], object]


def new_learner_id() -> str:
    return secrets.token_urlsafe(16)


def linkable(learner: object) -> str | None:
    return learner if isinstance(learner, str) and LINKABLE_LEARNER.fullmatch(learner) else None


def learner_cookie(learner: str) -> str:
    """The Set-Cookie value: HttpOnly, and Lax so a same-site course page's credentialed call carries it."""
    return f"{LEARNER_COOKIE}={learner}; Max-Age={LEARNER_MAX_AGE_S}; Path=/; HttpOnly; SameSite=Lax"


def cookie_learner(scope: Scope) -> str | None:
    """The learner id in the request's cookie, if it has a valid one."""
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except ValueError:  # http.cookies.CookieError: a malformed header is a request with no learner cookie
                continue
            if LEARNER_COOKIE in jar and linkable(jar[LEARNER_COOKIE].value):
                return jar[LEARNER_COOKIE].value
    return None


def _route(scope: Scope) -> str:
    """The request's path inside this app: a registered course's app is served under /c/NAME (its root_path)."""
    return scope["path"].removeprefix(scope.get("root_path", "")) or "/"


class LearnerCookieMiddleware:
    """Gives a browser that opens the chat page a random learner id, so its questions and quiz replies can be told apart.

    `/?learner=ID` (the widget's "open the full chat" link) makes the widget's id the chat's too: the chat's earlier
    records move to it, and the browser is sent on to `/` so the id does not stay in the address bar or its history."""

    def __init__(self, app: ASGIApp, merge: Merge | None = None, paths: tuple[str, ...] = ("/",)):
        self.app = app
        self.merge = merge
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or _route(scope) not in self.paths:
            await self.app(scope, receive, send)
            return
        current = cookie_learner(scope)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        adopted = linkable((query.get("learner") or [None])[0])
        if adopted is not None:
            if current is not None and current != adopted and self.merge is not None:
                self.merge(current, adopted)
            headers = [(b"location", scope["path"].encode()), (b"set-cookie", learner_cookie(adopted).encode()),
                       (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store"), (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 303, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        if current is not None:
            await self.app(scope, receive, send)
            return
        cookie = learner_cookie(new_learner_id()).encode()

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)
