"""OIDC login initiation and launch validation: the id_token checked against the platform's JWKS, state and nonce used once.

No cookie is involved: the login keeps (state, nonce) in the store, keyed by state, and the launch finds them there,
because a launch runs in the platform's cross-site iframe, where the browser sends and keeps no cookies of the tool's."""
from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import jwt
from sqlalchemy import delete, update

from app.insights.models import LtiLoginState
from app.insights.store import InteractionStore, now
from app.lti.registry import Platform, platforms_of

log = logging.getLogger("course_guide")

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
MESSAGE_TYPE = CLAIM + "message_type"
DEPLOYMENT_ID = CLAIM + "deployment_id"
RESOURCE_LINK = CLAIM + "resource_link"
TARGET_LINK_URI = CLAIM + "target_link_uri"
CUSTOM = CLAIM + "custom"
CONTEXT = CLAIM + "context"
AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
DEEP_LINKING_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
MESSAGE_TYPES = ("LtiResourceLinkRequest", "LtiDeepLinkingRequest")
LOGIN_STATE_TTL = timedelta(minutes=10)
CLOCK_LEEWAY_S = 60
JWKS_CACHE_S = 300


class LaunchRejected(Exception):
    """A login or launch the tool refuses. `kind` names the reason; the page tells the learner what to tell the instructor."""

    def __init__(self, kind: str, title: str, detail: str, status: int = 400):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.title, self.detail, self.status = kind, title, detail, status


def _unknown_issuer(issuer: str) -> LaunchRejected:
    return LaunchRejected("unknown_issuer", "This course platform is not registered",
                          f"Course Guide has no registration for the platform {issuer!r}. Ask your instructor to register it "
                          "with `course-guide lti register` (see the README's LTI section).", 403)


def find_platform(store: InteractionStore, issuer: str, client_id: str | None) -> Platform:
    """The registration a login names (with the client id when the platform sends one); LaunchRejected if none or ambiguous."""
    found = platforms_of(store, issuer)
    if not found:
        raise _unknown_issuer(issuer)
    if client_id:
        found = [p for p in found if p.client_id == client_id]
        if not found:
            raise LaunchRejected("wrong_audience", "This tool link names another client id",
                                 f"The platform {issuer!r} asked for client id {client_id!r}, which is not registered here. "
                                 "Ask your instructor to check the client id given to `course-guide lti register`.", 403)
    if len(found) > 1:
        raise LaunchRejected("ambiguous_client", "The platform did not say which registration it means",
                             f"{issuer!r} has several client ids registered here and the login named none. Ask your instructor "
                             "to keep one registration per platform, or to have the platform send client_id.")
    return found[0]


# --------------------------------------------------------------------------------- login initiation

def begin_login(store: InteractionStore, params: dict[str, str], redirect_uri: str) -> str:
    """The URL of the platform's OIDC auth endpoint for a third-party-initiated login; the state and nonce are stored."""
    issuer, login_hint, target = params.get("iss", ""), params.get("login_hint", ""), params.get("target_link_uri", "")
    if not issuer or not login_hint or not target:
        missing = ", ".join(name for name, value in (("iss", issuer), ("login_hint", login_hint), ("target_link_uri", target)) if not value)
        raise LaunchRejected("bad_login", "The login request is incomplete",
                             f"The platform's login request lacks {missing}. Ask your instructor to check that the tool's "
                             "login URL is set as the platform's OpenID Connect initiation URL.")
    platform = find_platform(store, issuer, params.get("client_id") or None)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with store.session() as session:
        session.execute(delete(LtiLoginState).where(LtiLoginState.created_at < now() - timedelta(days=1)))
        session.add(LtiLoginState(state=state, nonce=nonce, issuer=platform.issuer, client_id=platform.client_id, created_at=now()))
    query = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post", "prompt": "none",
             "client_id": platform.client_id, "redirect_uri": redirect_uri, "state": state, "nonce": nonce, "login_hint": login_hint}
    if params.get("lti_message_hint"):
        query["lti_message_hint"] = params["lti_message_hint"]
    separator = "&" if "?" in platform.auth_login_url else "?"
    return platform.auth_login_url + separator + urlencode(query)


# --------------------------------------------------------------------------------- launch

_jwks_clients: dict[str, jwt.PyJWKClient] = {}
_jwks_lock = threading.Lock()


def _jwks_client(url: str) -> jwt.PyJWKClient:
    """One PyJWKClient per key-set URL: a cache of the platform's public keys (refetched on an unknown kid), not state."""
    with _jwks_lock:
        client = _jwks_clients.get(url)
        if client is None:
            client = _jwks_clients[url] = jwt.PyJWKClient(url, cache_keys=True, lifespan=JWKS_CACHE_S, timeout=10)
        return client


@dataclass(frozen=True)
class Launch:
    """A launch that passed every check: the platform and the id_token's claims."""

    platform: Platform
    claims: dict[str, Any]

    @property
    def message_type(self) -> str:
        return str(self.claims[MESSAGE_TYPE])

    @property
    def deployment_id(self) -> str:
        return str(self.claims[DEPLOYMENT_ID])


def _unverified(id_token: str) -> dict[str, Any]:
    try:
        return jwt.decode(id_token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise LaunchRejected("malformed_token", "The launch could not be read",
                             "The platform sent an id_token that is not a JSON Web Token. Ask your instructor to check the "
                             "tool's launch (redirect) URL in the platform.") from None


def validate_launch(store: InteractionStore, id_token: str, state: str) -> Launch:
    """Check a launch (POST of id_token and state to the launch URL) in the order the LTI 1.3 security framework asks:
    the registration, then the signature against the platform's JWKS, issuer, audience, expiry, then state and nonce
    (used once), then the deployment and message type. LaunchRejected names the first failure."""
    if not id_token or not state:
        raise LaunchRejected("bad_launch", "The launch is incomplete",
                             "The launch lacked its id_token or state. Open the tool from your course again; if it keeps "
                             "happening, ask your instructor to check the tool's redirect URL.")
    unverified = _unverified(id_token)
    issuer = str(unverified.get("iss", ""))
    audiences = unverified.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
    registered = platforms_of(store, issuer)
    if not registered:
        raise _unknown_issuer(issuer)
    matching = [p for p in registered if p.client_id in audiences]
    if not matching:
        raise LaunchRejected("wrong_audience", "This launch was meant for another tool",
                             f"The launch's audience {audiences!r} is not this tool's client id for {issuer!r}. Ask your instructor "
                             "to check the client id given to `course-guide lti register`.", 403)
    platform = matching[0]
    try:
        key = _jwks_client(platform.jwks_url).get_signing_key_from_jwt(id_token)
    except jwt.PyJWKClientConnectionError as err:
        log.warning("could not fetch the JWKS of %s: %s", issuer, err)
        raise LaunchRejected("jwks_unreachable", "The platform's keys could not be fetched",
                             f"Course Guide could not fetch the platform's public keys from {platform.jwks_url}. Ask your "
                             "instructor to check the key-set URL given to `course-guide lti register`.", 502) from None
    except jwt.PyJWKClientError:
        raise LaunchRejected("bad_signature", "The launch's signature does not check out",
                             "The launch was signed with a key the platform does not publish. Ask your instructor to check the "
                             "key-set URL given to `course-guide lti register`.", 401) from None
    try:
        claims = jwt.decode(id_token, key.key, algorithms=["RS256"], audience=platform.client_id, issuer=platform.issuer,
                            leeway=CLOCK_LEEWAY_S, options={"require": ["exp", "iat", "iss", "aud", "nonce"]})
    except jwt.ExpiredSignatureError:
        raise LaunchRejected("expired_token", "The launch has expired",
                             "The platform's launch is past its expiry time. Open the tool from your course again; if it keeps "
                             "happening, ask your instructor to check the platform server's clock.", 401) from None
    except jwt.InvalidSignatureError:
        raise LaunchRejected("bad_signature", "The launch's signature does not check out",
                             "The launch was not signed by the platform's published key. Ask your instructor to check the "
                             "key-set URL given to `course-guide lti register`.", 401) from None
    except jwt.InvalidAudienceError:
        raise LaunchRejected("wrong_audience", "This launch was meant for another tool",
                             f"The launch's audience is not this tool's client id {platform.client_id!r}.", 403) from None
    except jwt.InvalidTokenError as err:
        raise LaunchRejected("invalid_token", "The launch could not be checked",
                             f"The platform's id_token failed a check ({err}). Ask your instructor to check the tool's registration.",
                             401) from None
    if isinstance(unverified.get("aud"), list) and len(audiences) > 1 and claims.get("azp") != platform.client_id:
        raise LaunchRejected("wrong_audience", "This launch was meant for another tool",
                             "The launch names several audiences and its azp is not this tool's client id.", 403)
    _use_state(store, state, str(claims["nonce"]), platform)
    deployment = str(claims.get(DEPLOYMENT_ID, ""))
    if deployment not in platform.deployment_ids:
        raise LaunchRejected("unknown_deployment", "This deployment of the tool is not registered",
                             f"The platform launched deployment {deployment!r}, which is not registered for {issuer!r}. Ask your "
                             f"instructor to run `course-guide lti register ... --deployment-id {deployment}`.", 403)
    if claims.get(MESSAGE_TYPE) not in MESSAGE_TYPES:
        raise LaunchRejected("unsupported_message", "This kind of launch is not supported",
                             f"Course Guide handles {', '.join(MESSAGE_TYPES)}; the platform sent {claims.get(MESSAGE_TYPE)!r}.")
    if claims.get(CLAIM + "version") != "1.3.0":
        raise LaunchRejected("unsupported_version", "This LTI version is not supported",
                             f"Course Guide speaks LTI 1.3.0; the platform sent version {claims.get(CLAIM + 'version')!r}.")
    if not claims.get("sub") and claims.get(MESSAGE_TYPE) == "LtiResourceLinkRequest":
        raise LaunchRejected("anonymous_launch", "The launch names no learner",
                             "The platform sent an anonymous launch. Ask your instructor to let the tool receive the user's id.")
    return Launch(platform, claims)


def _use_state(store: InteractionStore, state: str, nonce: str, platform: Platform) -> None:
    """Mark the login's state used, once, if its nonce is the id_token's; else the launch is refused as replayed or unknown."""
    with store.session() as session:
        row = session.get(LtiLoginState, state)
        if row is None or row.issuer != platform.issuer or row.client_id != platform.client_id:
            raise LaunchRejected("unknown_state", "This launch did not start here",
                                 "The launch's state matches no login this tool started (or one older than a day). Open the tool "
                                 "from your course again.", 401)
        if row.nonce != nonce:
            raise LaunchRejected("replayed_nonce", "This launch was already used",
                                 "The launch's nonce does not belong to this login: it is a copy of an earlier launch. Open the "
                                 "tool from your course again.", 401)
        fresh = now() - LOGIN_STATE_TTL
        result: Any = session.execute(update(LtiLoginState).where(LtiLoginState.state == state, LtiLoginState.used_at.is_(None))
                                      .values(used_at=now()))
        if not result.rowcount:
            raise LaunchRejected("replayed_nonce", "This launch was already used",
                                 "The launch's nonce was used before: a launch can be opened only once. Open the tool from your "
                                 "course again.", 401)
        created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=fresh.tzinfo)
        if created < fresh:
            raise LaunchRejected("expired_login", "The login took too long",
                                 "More than 10 minutes passed between the login and the launch. Open the tool from your course again.", 401)
