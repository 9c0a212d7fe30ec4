"""Instructor access: the token from COURSE_GUIDE_INSTRUCTOR_TOKEN, as a Bearer header or a sign-in cookie, compared in constant time."""
from __future__ import annotations

import hashlib
import hmac

from pydantic import SecretStr

from core.settings import Settings

COOKIE = "course_guide_instructor"
COOKIE_MAX_AGE_S = 8 * 3600
OFF_MESSAGE = ("Instructor access is off: set COURSE_GUIDE_INSTRUCTOR_TOKEN to a long random secret "
               "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`) and restart `course-guide serve`.")
UNAUTHORIZED_MESSAGE = ("This needs the instructor token: send `Authorization: Bearer TOKEN` with the value of "
                        "COURSE_GUIDE_INSTRUCTOR_TOKEN, or sign in at /instructor.")


def configured_token(settings: Settings) -> str | None:
    secret = settings.instructor_token
    token = (secret.get_secret_value() if isinstance(secret, SecretStr) else str(secret or "")).strip()
    return token or None


def session_value(token: str) -> str:
    """What the sign-in cookie holds: derived from the token, so the cookie never carries the token itself."""
    return hmac.new(token.encode(), b"course-guide instructor session v1", hashlib.sha256).hexdigest()


def token_matches(settings: Settings, given: str | None) -> bool:
    token = configured_token(settings)
    if not token or not given:
        return False
    return hmac.compare_digest(given.encode(), token.encode())


def authorized(settings: Settings, authorization: str | None, cookie: str | None) -> bool:
    """Whether a request carries the instructor token (Bearer) or a valid sign-in cookie."""
    token = configured_token(settings)
    if token is None:
        return False
    if authorization:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and token_matches(settings, given.strip()):
            return True
    if not cookie:
        return False
    return hmac.compare_digest(cookie.encode(), session_value(token).encode())
