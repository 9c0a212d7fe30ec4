"""Embedding security as ASGI middleware: which origins may call the API or frame the pages, per-client rate limits, body size caps."""
from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from urllib.parse import urlsplit

from limits import RateLimitItemPerMinute
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("course_guide")

# Pages served from the developer's own machine may always embed the guide, whatever their port.
_DEVELOPMENT_ORIGIN = re.compile(r"https?://(?:localhost|127\.0\.0\.1|\[::1\])(?::\d+)?")
_DEVELOPMENT_FRAME_SOURCES = ("http://localhost:*", "http://127.0.0.1:*", "https://localhost:*", "https://127.0.0.1:*")


class OriginPolicy:
    """The course sites allowed to use the guide from the browser: the allowlist, localhost, and the guide itself."""

    def __init__(self, allowed_origins: list[str]):
        self.allowed = frozenset(allowed_origins)

    def allows(self, origin: str, host: str | None = None) -> bool:
        """Whether a request with this Origin header may be served; `host` is the request's Host (same origin is fine)."""
        if origin in self.allowed or _DEVELOPMENT_ORIGIN.fullmatch(origin):
            return True
        return bool(host) and urlsplit(origin).netloc == host

    def cors_regex(self) -> str:
        return _DEVELOPMENT_ORIGIN.pattern

    def frame_ancestors(self) -> str:
        return " ".join(["frame-ancestors 'self'", *_DEVELOPMENT_FRAME_SOURCES, *sorted(self.allowed)])


async def send_json_error(send: Send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    """A JSON {"error": message} response, the shape every API error has."""
    body = json.dumps({"error": message}).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class OriginGateMiddleware:
    """Refuses API requests from origins off the allowlist with 403, so no other site can use the API from a browser.

    Requests without an Origin header (curl, servers) are not browsers acting for another site and pass."""

    def __init__(self, app: ASGIApp, policy: OriginPolicy):
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = _header(scope, b"origin") if scope["type"] == "http" else None
        if origin is not None and not self.policy.allows(origin, _header(scope, b"host")):
            await send_json_error(
                send, 403, f"The origin {origin} may not use this Course Guide. Add it to COURSE_GUIDE_ALLOWED_ORIGINS."
            )
            return
        await self.app(scope, receive, send)


class FrameAncestorsMiddleware:
    """Adds `Content-Security-Policy: frame-ancestors ...` to every HTML page, so only allowed sites can frame them."""

    def __init__(self, app: ASGIApp, policy: OriginPolicy):
        self.app = app
        self.header = (b"content-security-policy", policy.frame_ancestors().encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                has_policy = any(k.lower() == b"content-security-policy" for k, _ in headers)  # e.g. /instructor: stricter
                if content_type.startswith(b"text/html") and not has_policy:
                    message = {**message, "headers": [*headers, self.header]}
            await send(message)

        await self.app(scope, receive, send_with_policy)


class RateLimits:
    """Requests per client address in any sliding minute: counted in Redis when `redis_url` is set, so every worker
    and replica shares one count per client, else in this process (one machine, one process: the default).

    A moving window from the `limits` library (the engine behind slowapi): a fixed window would let a client send
    twice the limit across a minute boundary. When Redis cannot be reached the limit is not lifted and no request
    fails: counting falls back to this process (as with no Redis, each process then limits on its own), a warning
    is logged once per outage, /api/health says `"shared": false`, and Redis is tried again every `retry_s`."""

    def __init__(self, per_minute: int, redis_url: str | None = None, retry_s: float = 5.0):
        self.item = RateLimitItemPerMinute(per_minute)
        self.local = MovingWindowRateLimiter(MemoryStorage())
        self.redis_url = redis_url
        self.shared: MovingWindowRateLimiter | None = None
        self.redis: RedisStorage | None = None
        if redis_url:
            # Short timeouts and one immediate retry (a pooled connection that a Redis restart closed): redis-py's default
            # of 3 retries with backoff from 1 s would hold a request for seconds while Redis is down.
            self.redis = RedisStorage(redis_url, wrap_exceptions=True, socket_connect_timeout=0.5, socket_timeout=0.5,
                                      retry=Retry(NoBackoff(), 1))  # type: ignore[arg-type]  # passed on to redis.Redis
            self.shared = MovingWindowRateLimiter(self.redis)
        self.retry_s = retry_s
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._error = ""
        self._lock = threading.Lock()

    def where(self) -> str:
        """Where the counts live, for /api/health: 'redis://host:port/db' without any password, or 'this process'."""
        if not self.redis_url:
            return "this process"
        parts = urlsplit(self.redis_url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path}"

    def hit(self, client: str) -> int | None:
        """Count one request from `client`; None if it may go on, else the seconds until it may (Retry-After)."""
        limiter = self._limiter_now()
        try:
            retry_after = self._count(limiter, client)
        except StorageError as err:
            self._redis_failed(err)
            return self._count(self.local, client)
        if limiter is self.shared:
            self._redis_back()
        return retry_after

    def _count(self, limiter: MovingWindowRateLimiter, client: str) -> int | None:
        if limiter.hit(self.item, client):
            return None
        reset = limiter.get_window_stats(self.item, client).reset_time
        return max(1, math.ceil(reset - time.time()))

    def _limiter_now(self) -> MovingWindowRateLimiter:
        if self.shared is None:
            return self.local
        with self._lock:
            return self.local if self._down_since is not None and time.monotonic() < self._retry_at else self.shared

    def _redis_failed(self, err: StorageError) -> None:
        with self._lock:
            first = self._down_since is None
            if first:
                self._down_since = time.monotonic()
            self._retry_at = time.monotonic() + self.retry_s
            self._error = str(err.storage_error) or type(err.storage_error).__name__
        if first:
            log.warning("rate limits: Redis at %s is unreachable (%s); counting in this process until it is back, "
                        "so each process limits on its own meanwhile", self.where(), self._error)

    def _redis_back(self) -> None:
        with self._lock:
            if self._down_since is None:
                return
            seconds = time.monotonic() - self._down_since
            self._down_since = None
        log.warning("rate limits: Redis at %s is back after %.0f s; counts are shared again", self.where(), seconds)

    def health(self) -> dict:
        """What /api/health says about the limit: where it is counted and whether it is shared right now."""
        state: dict = {"per_minute": self.item.amount, "counted_in": self.where(), "shared": False}
        if self.redis is None:
            return state
        # A ping, so the health check sees an outage even when no request has met it yet.
        if self.redis.check():
            self._redis_back()
        else:
            self._redis_failed(StorageError(ConnectionError("no answer to PING")))
        with self._lock:
            down = self._down_since is not None
            error = self._error
        if down:
            return {**state, "counted_in": "this process (Redis unreachable)", "redis": self.where(), "error": error}
        return {**state, "shared": True}


class RateLimitMiddleware:
    """At most the limit's requests per client address in any sliding minute, else 429 with Retry-After.

    Paths in `exempt` (health checks, the API description) and CORS preflights are not counted."""

    def __init__(self, app: ASGIApp, limits: RateLimits, exempt: tuple[str, ...] = ()):
        self.app = app
        self.limits = limits
        self.exempt = exempt

    def _path(self, scope: Scope) -> str:
        # Mounted under /api, the path relative to the mount is what the exemptions name.
        return scope["path"].removeprefix(scope.get("root_path", "")) or "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or self._path(scope) in self.exempt:
            await self.app(scope, receive, send)
            return
        # Behind a reverse proxy, uvicorn has already put the forwarded client address here (FORWARDED_ALLOW_IPS).
        client = scope["client"][0] if scope.get("client") else "unknown"
        # A Redis round trip on loopback is well under a millisecond; the timeouts above bound a Redis that hangs.
        retry_after = self.limits.hit(client)
        if retry_after is not None:
            await send_json_error(
                send,
                429,
                f"Too many questions from this address: the limit is {self.limits.item.amount} per minute. Try again in {retry_after} s.",
                {"Retry-After": str(retry_after)},
            )
            return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuses a request body over `max_bytes` with 413 while it is read, so no request can make the server hold more.

    A Content-Length over the limit is refused before any body is read; a chunked body (no Content-Length) or one
    that lies about its length is counted as it arrives and refused at the first byte past the limit. The app
    then sees the client as gone, and anything it tries to answer is dropped: the 413 is the response."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return (
            f"The request body is larger than this server's limit of {self.max_bytes:,} bytes. Send a shorter question "
            "or history; the operator can raise COURSE_GUIDE_MAX_REQUEST_BYTES."
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > self.max_bytes:
            await send_json_error(send, 413, self._message(), {"Connection": "close"})
            return
        received = 0
        refused = False
        response_started = False

        async def counted_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes and not response_started:
                    refused = True
                    await send_json_error(send, 413, self._message(), {"Connection": "close"})
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if refused:
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        await self.app(scope, counted_receive, guarded_send)
