"""The chat's anonymous learner id: a random value in a first-party cookie, made on the first page load, never a name or an address."""
from __future__ import annotations

import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LEARNER_COOKIE = "course_guide_learner"
LEARNER_MAX_AGE_S = 180 * 24 * 3600


def _has_cookie(scope: Scope) -> bool:
    for key, value in scope.get("headers", []):
        if key == b"cookie" and f"{LEARNER_COOKIE}=".encode() in value:
            return True
    return False


class LearnerCookieMiddleware:
    """Gives a browser that opens the chat page a random learner id, so its questions can be told apart from others'."""

    def __init__(self, app: ASGIApp, paths: tuple[str, ...] = ("/",)):
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] not in self.paths or _has_cookie(scope):
            await self.app(scope, receive, send)
            return
        cookie = (f"{LEARNER_COOKIE}={secrets.token_urlsafe(16)}; Max-Age={LEARNER_MAX_AGE_S}; Path=/; HttpOnly; SameSite=Lax").encode()

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)
