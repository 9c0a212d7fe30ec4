"""Deep Linking (LTI-DL 2.0): the signed LtiDeepLinkingResponse that places a Course Guide link, for a lesson or the course."""
from __future__ import annotations

import secrets
import time
from typing import Any

import jwt

from app.insights.store import InteractionStore
from app.lti.launch import CLAIM, DEEP_LINKING_SETTINGS, DEPLOYMENT_ID, MESSAGE_TYPE
from app.lti.registry import tool_key

DL_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/"
RESPONSE_TTL_S = 600


def picker_settings(claims: dict[str, Any]) -> dict[str, Any]:
    """The deep-linking settings claim of a LtiDeepLinkingRequest; ValueError when it lacks the return URL."""
    settings = claims.get(DEEP_LINKING_SETTINGS) or {}
    if not settings.get("deep_link_return_url"):
        raise ValueError("the deep-linking request has no deep_link_return_url")
    return settings


def content_item(*, launch_url: str, title: str, lesson: str | None) -> dict[str, Any]:
    """One ltiResourceLink: the launch URL, with the lesson as a custom parameter (the launch reads it back)."""
    item: dict[str, Any] = {"type": "ltiResourceLink", "title": title, "url": launch_url}
    if lesson:
        item["custom"] = {"lesson": lesson}
    return item


def response_jwt(store: InteractionStore, *, issuer: str, client_id: str, deployment_id: str, data: str | None,
                 items: list[dict[str, Any]]) -> str:
    """The LtiDeepLinkingResponse, signed with the tool's key: from the tool (iss = client id) to the platform (aud = issuer)."""
    key = tool_key(store)
    at = int(time.time())
    claims: dict[str, Any] = {
        "iss": client_id, "aud": issuer, "iat": at, "exp": at + RESPONSE_TTL_S, "nonce": secrets.token_urlsafe(16),
        MESSAGE_TYPE: "LtiDeepLinkingResponse", CLAIM + "version": "1.3.0", DEPLOYMENT_ID: deployment_id,
        DL_CLAIM + "content_items": items,
    }
    if data is not None:
        claims[DL_CLAIM + "data"] = data
    return jwt.encode(claims, key.private_key(), algorithm="RS256", headers={"kid": key.kid})
