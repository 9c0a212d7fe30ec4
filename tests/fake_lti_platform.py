"""A test LTI 1.3 platform on loopback, speaking the real protocol: its own RSA keys and JWKS over HTTP, an OIDC auth
endpoint that answers the tool's login redirect by auto-posting a signed id_token to the launch URL, a token endpoint
that checks the tool's signed client assertion against the tool's JWKS, AGS line-item and score endpoints that record
what they receive (and can fail on purpose), a deep-linking return URL, and a course page that frames the tool."""
from __future__ import annotations

import html
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"


def new_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class LaunchPlan:
    """What the platform puts in the id_token of one launch (chosen by the login's lti_message_hint)."""

    message_type: str = "LtiResourceLinkRequest"
    sub: str = "learner-42"
    resource_link_id: str = "link-quiz-1"
    resource_title: str = "Monitoring quiz"
    custom: dict[str, str] = field(default_factory=dict)
    ags: bool = True
    use_lineitems: bool = False  # AGS with only the container URL: the tool finds or makes its line item
    deployment_id: str | None = None  # another deployment than the registered one, for a refused launch


class FakePlatform:
    """The platform's state: what it received, and how it should misbehave."""

    def __init__(self, client_id: str = "course-guide-client", deployment_id: str = "deployment-1"):
        self.key, self.kid = new_key(), "platform-key-1"
        self.client_id, self.deployment_id = client_id, deployment_id
        self.tool_jwks_url: str | None = None
        self.tool_login_url: str | None = None
        self.tool_launch_url: str | None = None
        self.plans: dict[str, LaunchPlan] = {}
        self.scores: list[dict[str, Any]] = []
        self.lineitems: dict[str, dict[str, Any]] = {}
        self.tokens_issued: list[dict[str, Any]] = []
        self.deep_link_responses: list[dict[str, Any]] = []
        self.score_failures_left = 0
        self.last_auth_request: dict[str, str] = {}
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.issuer = self.url
        self.thread: threading.Thread | None = None

    # --- lifecycle
    def start(self) -> FakePlatform:
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def connect(self, tool_url: str) -> None:
        self.tool_jwks_url, self.tool_login_url, self.tool_launch_url = (
            f"{tool_url}/lti/jwks.json", f"{tool_url}/lti/login", f"{tool_url}/lti/launch")

    def registration(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "client_id": self.client_id, "deployment_ids": [self.deployment_id],
                "auth_login_url": f"{self.url}/auth", "token_url": f"{self.url}/token", "jwks_url": f"{self.url}/jwks"}

    # --- what a launch carries
    def claims(self, plan: LaunchPlan, nonce: str) -> dict[str, Any]:
        at = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": self.client_id, "sub": plan.sub, "iat": at, "exp": at + 300, "nonce": nonce,
            "name": "Ada Learner",
            CLAIM + "message_type": plan.message_type, CLAIM + "version": "1.3.0", CLAIM + "deployment_id": plan.deployment_id or self.deployment_id,
            CLAIM + "target_link_uri": self.tool_launch_url, CLAIM + "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
            CLAIM + "context": {"id": "course-mlops", "title": "MLOps 101"},
        }
        if plan.message_type == "LtiResourceLinkRequest":
            claims[CLAIM + "resource_link"] = {"id": plan.resource_link_id, "title": plan.resource_title}
            if plan.custom:
                claims[CLAIM + "custom"] = plan.custom
            if plan.ags:
                endpoint: dict[str, Any] = {"scope": ["https://purl.imsglobal.org/spec/lti-ags/scope/score",
                                                      "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"],
                                            "lineitems": f"{self.url}/lineitems"}
                if not plan.use_lineitems:
                    item_id = f"{self.url}/lineitems/{plan.resource_link_id}"
                    self.lineitems.setdefault(item_id, {"id": item_id, "label": plan.resource_title, "scoreMaximum": 5,
                                                        "resourceLinkId": plan.resource_link_id})
                    endpoint["lineitem"] = item_id
                claims[AGS] = endpoint
        else:
            claims[CLAIM + "roles"] = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]
            claims[DL_SETTINGS] = {"deep_link_return_url": f"{self.url}/deep-link-return", "accept_types": ["ltiResourceLink"],
                                   "accept_presentation_document_targets": ["iframe", "window"], "data": "platform-opaque-data"}
        return claims

    def sign(self, claims: dict[str, Any], key: Any = None, kid: str | None = None) -> str:
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def login_url(self, hint: str, *, target: str | None = None) -> str:
        """The tool's login initiation URL as the platform calls it (third-party initiated login)."""
        assert self.tool_login_url
        query = {"iss": self.issuer, "login_hint": "user-login-hint", "target_link_uri": target or self.tool_launch_url,
                 "lti_message_hint": hint, "client_id": self.client_id, "lti_deployment_id": self.deployment_id}
        return f"{self.tool_login_url}?{urlencode(query)}"

    def _check_client_assertion(self, assertion: str) -> dict[str, Any]:
        assert self.tool_jwks_url
        key = jwt.PyJWKClient(self.tool_jwks_url).get_signing_key_from_jwt(assertion)
        return jwt.decode(assertion, key.key, algorithms=["RS256"], audience=f"{self.url}/token", issuer=self.client_id)

    def _handler(self):
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args):  # quiet
                pass

            def _send(self, status: int, body: str | bytes, content_type: str = "text/html; charset=utf-8") -> None:
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _json(self, status: int, value: Any, content_type: str = "application/json") -> None:
                self._send(status, json.dumps(value), content_type)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _bearer_ok(self) -> bool:
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                return any(t["access_token"] == token for t in platform.tokens_issued)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/jwks":
                    self._json(200, platform.jwks())
                elif parts.path == "/auth":
                    self._auth(query)
                elif parts.path == "/course":
                    src = platform.login_url(query.get("hint", "quiz"))
                    page = (f"<!doctype html><html><head><title>MLOps 101 - Platform</title></head><body style='font-family:sans-serif;margin:16px'>"
                            f"<h1>MLOps 101 <small style='color:#666'>(the course platform)</small></h1>"
                            f"<p>Week 3: the tool below is framed from another site.</p>"
                            f"<iframe id='tool' name='tool' src='{html.escape(src)}' style='width:900px;height:720px;border:2px solid #888'"
                            f" allow='clipboard-write'></iframe></body></html>")
                    self._send(200, page)
                elif parts.path == "/lineitems":
                    if not self._bearer_ok():
                        return self._json(401, {"error": "no token"})
                    wanted = query.get("resource_link_id")
                    items = [i for i in platform.lineitems.values() if not wanted or i.get("resourceLinkId") == wanted]
                    self._json(200, items, "application/vnd.ims.lis.v2.lineitemcontainer+json")
                else:
                    self._send(404, "not found")

            def _auth(self, query: dict[str, str]) -> None:
                platform.last_auth_request = query
                problems = [name for name, ok in (
                    ("client_id", query.get("client_id") == platform.client_id),
                    ("redirect_uri", query.get("redirect_uri") == platform.tool_launch_url),
                    ("response_type", query.get("response_type") == "id_token"),
                    ("response_mode", query.get("response_mode") == "form_post"),
                    ("scope", query.get("scope") == "openid"),
                    ("state", bool(query.get("state"))), ("nonce", bool(query.get("nonce"))),
                    ("login_hint", query.get("login_hint") == "user-login-hint")) if not ok]
                if problems:
                    return self._send(400, f"bad auth request: {problems}")
                plan = platform.plans.get(query.get("lti_message_hint", ""), LaunchPlan())
                token = platform.sign(platform.claims(plan, query["nonce"]))
                page = (f"<!doctype html><html><body><form id='f' method='post' action='{html.escape(query['redirect_uri'])}'>"
                        f"<input type='hidden' name='id_token' value='{html.escape(token)}'>"
                        f"<input type='hidden' name='state' value='{html.escape(query['state'])}'></form>"
                        f"<script>document.getElementById('f').submit()</script></body></html>")
                self._send(200, page)

            def do_POST(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                body = self._body()
                if parts.path == "/token":
                    form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                    if form.get("grant_type") != "client_credentials" or "client_assertion" not in form:
                        return self._json(400, {"error": "invalid_request"})
                    try:
                        platform._check_client_assertion(form["client_assertion"])
                    except (jwt.InvalidTokenError, jwt.PyJWKClientError) as err:
                        return self._json(401, {"error": "invalid_client", "error_description": str(err)})
                    issued = {"access_token": secrets.token_hex(16), "token_type": "Bearer", "expires_in": 3600, "scope": form.get("scope", "")}
                    with platform.lock:
                        platform.tokens_issued.append(issued)
                    return self._json(200, issued)
                if parts.path == "/lineitems":
                    if not self._bearer_ok():
                        return self._json(401, {"error": "no token"})
                    item = json.loads(body)
                    item["id"] = f"{platform.url}/lineitems/{uuid.uuid4().hex[:8]}"
                    with platform.lock:
                        platform.lineitems[item["id"]] = item
                    return self._json(201, item, "application/vnd.ims.lis.v2.lineitem+json")
                if parts.path.startswith("/lineitems/") and parts.path.endswith("/scores"):
                    if not self._bearer_ok():
                        return self._json(401, {"error": "no token"})
                    with platform.lock:
                        if platform.score_failures_left > 0:
                            platform.score_failures_left -= 1
                            return self._json(500, {"error": "the gradebook is down"})
                        item_id = platform.url + parts.path.removesuffix("/scores")
                        if item_id not in platform.lineitems:
                            return self._json(404, {"error": "no such line item"})
                        platform.scores.append({"lineitem": item_id, "content_type": self.headers.get("Content-Type"), **json.loads(body)})
                    return self._send(204, b"")
                if parts.path == "/deep-link-return":
                    form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                    assert platform.tool_jwks_url
                    try:
                        key = jwt.PyJWKClient(platform.tool_jwks_url).get_signing_key_from_jwt(form.get("JWT", ""))
                        claims = jwt.decode(form["JWT"], key.key, algorithms=["RS256"], audience=platform.issuer, issuer=platform.client_id)
                    except (jwt.InvalidTokenError, jwt.PyJWKClientError, KeyError) as err:
                        return self._send(400, f"bad deep-linking response: {err}")
                    with platform.lock:
                        platform.deep_link_responses.append(claims)
                    items = claims.get("https://purl.imsglobal.org/spec/lti-dl/claim/content_items", [])
                    titles = ", ".join(html.escape(i.get("title", "")) for i in items)
                    return self._send(200, f"<!doctype html><html><body><h1 id='added'>Added to the course: {titles}</h1></body></html>")
                self._send(404, "not found")

        return Handler


def get(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(url, timeout=30, **kwargs)
