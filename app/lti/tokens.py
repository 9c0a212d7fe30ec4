"""The tool's own signed, expiring tokens: the launch token a launched page carries (no cookie), and the deep-linking one.

Both are JWTs signed with the tool's RSA key (RS256), so any replica can check them and no page can change them."""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from app.insights.store import InteractionStore
from app.lti.registry import tool_key

LAUNCH_AUDIENCE = "course-guide:launch"
DEEP_LINK_AUDIENCE = "course-guide:deep-link"
DEEP_LINK_TTL_S = 3600


class LaunchTokenError(ValueError):
    """A launch token that is missing, altered or expired; the message tells the learner what to do."""


@dataclass(frozen=True)
class LaunchIdentity:
    """Who a launched page acts for and where its grades go, as the launch token says."""

    launch_id: str
    learner: str  # the opaque id (HMAC of issuer and sub): what every learner record holds
    issuer: str
    client_id: str
    deployment_id: str
    lesson: str | None
    resource_link_id: str | None
    title: str
    user_id: str | None  # the platform's id for the learner, carried only when the launch can send grades (AGS needs it)
    lineitem: str | None
    lineitems: str | None
    scopes: tuple[str, ...]

    @property
    def sends_grades(self) -> bool:
        return bool(self.user_id and (self.lineitem or self.lineitems))


def _sign(store: InteractionStore, claims: dict[str, Any]) -> str:
    key = tool_key(store)
    return jwt.encode(claims, key.private_key(), algorithm="RS256", headers={"kid": key.kid})


def _check(store: InteractionStore, token: str, audience: str) -> dict[str, Any]:
    key = tool_key(store)
    return jwt.decode(token, key.private_key().public_key(), algorithms=["RS256"], audience=audience,
                      options={"require": ["exp", "aud"]})


def launch_audience(course: str) -> str:
    """Who a launch token is for: the guide's launch pages of one course ("" the default), so a launch into one course
    of a many-course deployment never acts in another."""
    return f"{LAUNCH_AUDIENCE}:{course}" if course else LAUNCH_AUDIENCE


def issue_launch_token(store: InteractionStore, identity: LaunchIdentity, ttl_s: int, course: str = "") -> str:
    at = int(time.time())
    claims = {"aud": launch_audience(course), "iat": at, "exp": at + ttl_s, "jti": identity.launch_id, "learner": identity.learner,
              "iss_platform": identity.issuer, "client_id": identity.client_id, "deployment_id": identity.deployment_id,
              "lesson": identity.lesson, "resource_link_id": identity.resource_link_id, "title": identity.title,
              "user_id": identity.user_id, "lineitem": identity.lineitem, "lineitems": identity.lineitems, "scopes": list(identity.scopes)}
    return _sign(store, claims)


def read_launch_token(store: InteractionStore, token: str, course: str = "") -> LaunchIdentity:
    try:
        claims = _check(store, token, launch_audience(course))
    except jwt.ExpiredSignatureError:
        raise LaunchTokenError("This course launch has expired; open Course Guide from your course again.") from None
    except jwt.InvalidTokenError:
        raise LaunchTokenError("This course launch could not be checked; open Course Guide from your course again.") from None
    return LaunchIdentity(
        launch_id=str(claims["jti"]), learner=str(claims["learner"]), issuer=str(claims["iss_platform"]), client_id=str(claims["client_id"]),
        deployment_id=str(claims["deployment_id"]), lesson=claims.get("lesson"), resource_link_id=claims.get("resource_link_id"),
        title=str(claims.get("title") or "Quiz"), user_id=claims.get("user_id"), lineitem=claims.get("lineitem"),
        lineitems=claims.get("lineitems"), scopes=tuple(claims.get("scopes") or ()))


def new_launch_id() -> str:
    return secrets.token_hex(16)


def issue_deep_link_token(store: InteractionStore, *, issuer: str, client_id: str, deployment_id: str, return_url: str,
                          data: str | None) -> str:
    at = int(time.time())
    return _sign(store, {"aud": DEEP_LINK_AUDIENCE, "iat": at, "exp": at + DEEP_LINK_TTL_S, "iss_platform": issuer,
                         "client_id": client_id, "deployment_id": deployment_id, "return_url": return_url, "data": data})


def read_deep_link_token(store: InteractionStore, token: str) -> dict[str, Any]:
    try:
        return _check(store, token, DEEP_LINK_AUDIENCE)
    except jwt.ExpiredSignatureError:
        raise LaunchTokenError("This content picker has expired; open it from your course again.") from None
    except jwt.InvalidTokenError:
        raise LaunchTokenError("This content picker could not be checked; open it from your course again.") from None
