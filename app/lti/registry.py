"""Platform registrations and the tool's own RSA key pair, both kept in the interaction store; the tool's public JWKS."""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import delete, select

from app.insights.models import LtiPlatform, LtiToolKey
from app.insights.store import InteractionStore, now

KEY_BITS = 2048


def tool_urls(base_url: str) -> dict[str, str]:
    """The URLs a platform's tool form asks for: one launch URL serves resource links and deep-linking requests alike."""
    return {"login": f"{base_url}/lti/login", "launch": f"{base_url}/lti/launch", "deep_link": f"{base_url}/lti/launch",
            "jwks": f"{base_url}/lti/jwks.json"}


class RegistrationError(ValueError):
    """A registration that cannot be stored or found; the message says what to give instead."""


@dataclass(frozen=True)
class Platform:
    """One platform registration: the issuer and client id the platform gave this tool, and the platform's URLs."""

    issuer: str
    client_id: str
    deployment_ids: tuple[str, ...]
    auth_login_url: str
    token_url: str
    jwks_url: str

    def origins(self) -> set[str]:
        """The origins that frame a launch: the platform's own pages (its issuer and login URL) may embed the tool."""
        found = set()
        for url in (self.issuer, self.auth_login_url):
            parts = urlsplit(url)
            if parts.scheme in ("http", "https") and parts.netloc:
                found.add(f"{parts.scheme}://{parts.netloc}")
        return found

    def to_dict(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "client_id": self.client_id, "deployment_ids": list(self.deployment_ids),
                "auth_login_url": self.auth_login_url, "token_url": self.token_url, "jwks_url": self.jwks_url}


def _platform(row: LtiPlatform) -> Platform:
    return Platform(row.issuer, row.client_id, tuple(row.deployment_ids), row.auth_login_url, row.token_url, row.jwks_url)


def _checked_url(name: str, value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RegistrationError(f"--{name} {value!r} is not an http(s) URL; copy it from the platform's LTI settings, e.g. https://lms.example.edu/...")
    return value.strip()


def register(store: InteractionStore, *, issuer: str, client_id: str, deployment_ids: list[str], auth_login_url: str,
             token_url: str, jwks_url: str) -> Platform:
    """Store (or replace) the registration of (issuer, client_id); the deployment ids given are added to those kept."""
    issuer = issuer.strip()  # kept exactly as given: a launch's `iss` must match it character for character
    if not issuer:
        raise RegistrationError("--issuer is empty; it is the platform's issuer, e.g. https://canvas.instructure.com.")
    if not client_id.strip():
        raise RegistrationError("--client-id is empty; it is the id the platform gave this tool (Canvas: the developer key's id).")
    deployments = [d.strip() for d in deployment_ids if d.strip()]
    if not deployments:
        raise RegistrationError("--deployment-id is needed at least once; the platform shows it where the tool is installed.")
    urls = {name: _checked_url(name, value) for name, value in (("auth-url", auth_login_url), ("token-url", token_url), ("jwks-url", jwks_url))}
    with store.session() as session:
        row = session.get(LtiPlatform, (issuer, client_id.strip()))
        if row is None:
            row = LtiPlatform(issuer=issuer, client_id=client_id.strip(), deployment_ids=[], registered_at=now())
            session.add(row)
        row.deployment_ids = sorted(set(row.deployment_ids or []) | set(deployments))
        row.auth_login_url, row.token_url, row.jwks_url = urls["auth-url"], urls["token-url"], urls["jwks-url"]
        return _platform(row)


def platforms(store: InteractionStore) -> list[Platform]:
    with store.session() as session:
        return [_platform(row) for row in session.execute(select(LtiPlatform).order_by(LtiPlatform.issuer, LtiPlatform.client_id)).scalars()]


def platforms_of(store: InteractionStore, issuer: str) -> list[Platform]:
    with store.session() as session:
        return [_platform(row) for row in session.execute(select(LtiPlatform).where(LtiPlatform.issuer == issuer)).scalars()]


def remove(store: InteractionStore, issuer: str, client_id: str) -> bool:
    """Delete one registration; whether there was one."""
    with store.session() as session:
        result: Any = session.execute(delete(LtiPlatform).where(LtiPlatform.issuer == issuer, LtiPlatform.client_id == client_id))
        return bool(result.rowcount)


# --------------------------------------------------------------------------------- the tool's key pair

@dataclass(frozen=True)
class ToolKey:
    kid: str
    private_pem: str
    learner_secret: str
    created_at: datetime

    def private_key(self) -> Any:
        return serialization.load_pem_private_key(self.private_pem.encode(), password=None)

    def public_jwk(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key().public_key()))
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def learner_id(self, issuer: str, sub: str) -> str:
        """The opaque learner id of a platform user: an HMAC of issuer and sub, so the store never holds the platform's id."""
        digest = hmac.new(self.learner_secret.encode(), f"{issuer}\n{sub}".encode(), hashlib.sha256).hexdigest()
        return "lti-" + digest[:40]


def tool_key(store: InteractionStore) -> ToolKey:
    """The tool's signing key: the oldest in the store, made on first use (every replica then finds the same one)."""
    with store.session() as session:
        row = session.execute(select(LtiToolKey).order_by(LtiToolKey.created_at, LtiToolKey.kid).limit(1)).scalar_one_or_none()
        if row is None:
            private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
            pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
            row = LtiToolKey(kid=secrets.token_hex(8), private_pem=pem, learner_secret=secrets.token_hex(32), created_at=now())
            session.add(row)
        return ToolKey(row.kid, row.private_pem, row.learner_secret, row.created_at)


def jwks(store: InteractionStore) -> dict[str, Any]:
    """The tool's public key set, as platforms fetch it to check what the tool signs (deep-linking responses, AGS tokens)."""
    with store.session() as session:
        rows = session.execute(select(LtiToolKey).order_by(LtiToolKey.created_at, LtiToolKey.kid)).scalars().all()
        keys = [ToolKey(r.kid, r.private_pem, r.learner_secret, r.created_at) for r in rows]
    if not keys:
        keys = [tool_key(store)]
    return {"keys": [key.public_jwk() for key in keys]}
