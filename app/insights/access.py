"""Instructor access: the deployment's token (COURSE_GUIDE_INSTRUCTOR_TOKEN, every course) or a registered course's own
token (that course only), as a Bearer header or a sign-in cookie, compared in constant time."""
from __future__ import annotations

import hashlib
import hmac

from pydantic import SecretStr

from core.settings import Settings

COOKIE = "course_guide_instructor"
COOKIE_MAX_AGE_S = 8 * 3600
OFF_MESSAGE = ("Instructor access is off: set COURSE_GUIDE_INSTRUCTOR_TOKEN to a long random secret "
               "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`) and restart `course-guide serve`, "
               "or give the course its own with `course-guide course update NAME --instructor-token-file FILE`.")
UNAUTHORIZED_MESSAGE = ("This needs the instructor token: send `Authorization: Bearer TOKEN` with the value of "
                        "COURSE_GUIDE_INSTRUCTOR_TOKEN (or the course's own token), or sign in at /instructor.")


def configured_token(settings: Settings) -> str | None:
    """The deployment's instructor token, if one is set."""
    secret = settings.instructor_token
    token = (secret.get_secret_value() if isinstance(secret, SecretStr) else str(secret or "")).strip()
    return token or None


def token_sha256(token: str) -> str:
    """What the course registry keeps of a course's token: never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def _keys(settings: Settings) -> list[str]:
    """The secrets that open these settings' instructor pages: the deployment's token, the course token's hash."""
    keys = [configured_token(settings), settings.course_instructor_token_sha256]
    return [key for key in keys if key]


def access_on(settings: Settings) -> bool:
    """Whether any token opens these instructor pages (else they are off)."""
    return bool(_keys(settings))


def cookie_name(settings: Settings) -> str:
    """The sign-in cookie of this course: each course's own, so signing in to one never signs in (or out) of another."""
    return f"{COOKIE}_{settings.course}" if settings.course else COOKIE


def session_value(key: str) -> str:
    """What the sign-in cookie holds: derived from the token (or its hash), so the cookie never carries the token itself."""
    return hmac.new(key.encode(), b"course-guide instructor session v1", hashlib.sha256).hexdigest()


def matching_key(settings: Settings, given: str | None) -> str | None:
    """The key a given token opens these pages with (for its sign-in cookie), or None."""
    if not given:
        return None
    token, course_hash = configured_token(settings), settings.course_instructor_token_sha256
    if token and hmac.compare_digest(given.encode(), token.encode()):
        return token
    if course_hash and hmac.compare_digest(token_sha256(given).encode(), course_hash.encode()):
        return course_hash
    return None


def token_matches(settings: Settings, given: str | None) -> bool:
    return matching_key(settings, given) is not None


def authorized(settings: Settings, authorization: str | None, cookie: str | None) -> bool:
    """Whether a request carries an instructor token (Bearer) or a valid sign-in cookie for these settings' course."""
    if not access_on(settings):
        return False
    if authorization:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and token_matches(settings, given.strip()):
            return True
    if not cookie:
        return False
    return any(hmac.compare_digest(cookie.encode(), session_value(key).encode()) for key in _keys(settings))
