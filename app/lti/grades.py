"""Grades back to the platform (LTI AGS): an outbox in the store, one row per (launch, quiz session), sent once, retried.

Delivery: the OAuth2 client-credentials grant with a JWT assertion signed by the tool's key, at the platform's token
URL, then a score POST to the launch's line item (or to the line item this resource link has in the `lineitems`
container, made there on first use). A row is claimed before it is sent, so two replicas never send the same score;
it is marked sent only after the platform accepted it, and tried again later (with a growing wait) when it did not."""
from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import jwt
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from app.insights.models import LtiGrade
from app.insights.store import InteractionStore, now, utc
from app.lti.registry import platforms_of, tool_key
from app.lti.tokens import LaunchIdentity

log = logging.getLogger("course_guide")

SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
CLAIM_S = 60  # a row claimed by a sender is left to it this long
HTTP_TIMEOUT_S = 10.0
MAX_BACKOFF_S = 3600.0


class GradeSendError(RuntimeError):
    """The platform did not take a score (or a token); retried later."""


def enqueue(store: InteractionStore, identity: LaunchIdentity, session_id: str, score_given: float, score_maximum: float) -> bool:
    """Put a finished quiz's score in the outbox; False when this (launch, quiz session) already has one."""
    values = {"grade_id": str(uuid.uuid4()), "launch_id": identity.launch_id, "session_id": session_id, "issuer": identity.issuer,
              "client_id": identity.client_id, "user_id": identity.user_id, "learner": identity.learner, "lineitem": identity.lineitem,
              "lineitems": identity.lineitems, "resource_link_id": identity.resource_link_id, "label": identity.title[:255],
              "score_given": float(score_given), "score_maximum": float(max(score_maximum, 1.0)), "created_at": now(), "tries": 0,
              "next_try_at": now(), "claimed_until": None, "sent_at": None, "last_error": None}
    try:
        with store.session() as session:
            session.add(LtiGrade(**values))
    except IntegrityError:  # the unique (launch_id, session_id): this quiz's score is already in the outbox
        return False
    return True


def _claim(store: InteractionStore, at: datetime) -> list[LtiGrade]:
    """The rows due now, each claimed by this sender (a row another sender holds is skipped)."""
    with store.session() as session:
        due = session.execute(select(LtiGrade.grade_id).where(LtiGrade.sent_at.is_(None), LtiGrade.next_try_at <= at)
                              .order_by(LtiGrade.next_try_at).limit(50)).scalars().all()
    claimed = []
    for grade_id in due:
        with store.session() as session:
            result: Any = session.execute(update(LtiGrade).where(
                LtiGrade.grade_id == grade_id, LtiGrade.sent_at.is_(None),
                or_(LtiGrade.claimed_until.is_(None), LtiGrade.claimed_until < at)).values(claimed_until=at + timedelta(seconds=CLAIM_S)))
            if result.rowcount:
                row = session.get(LtiGrade, grade_id)
                if row is not None:
                    claimed.append(row)
    return claimed


def _access_token(client: httpx.Client, store: InteractionStore, token_url: str, client_id: str, scopes: list[str]) -> str:
    key = tool_key(store)
    at = int(time.time())
    assertion = jwt.encode({"iss": client_id, "sub": client_id, "aud": token_url, "iat": at, "exp": at + 300, "jti": uuid.uuid4().hex},
                           key.private_key(), algorithm="RS256", headers={"kid": key.kid})
    response = client.post(token_url, data={
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
        "scope": " ".join(scopes),
    })
    if response.status_code != 200:
        raise GradeSendError(f"the token endpoint answered {response.status_code}: {response.text[:200]}")
    token = response.json().get("access_token")
    if not token:
        raise GradeSendError("the token endpoint answered without an access_token")
    return str(token)


def _with_path(url: str, suffix: str) -> str:
    """`url` with `suffix` added to its path, keeping its query (line-item URLs may carry one)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + suffix, parts.query, parts.fragment))


def _line_item(client: httpx.Client, headers: dict[str, str], grade: LtiGrade) -> str:
    """The line item for this grade: the launch's own, else this resource link's in the container, made if missing."""
    if grade.lineitem:
        return grade.lineitem
    assert grade.lineitems
    listed = client.get(grade.lineitems, params={"resource_link_id": grade.resource_link_id or ""}, headers={**headers, "Accept": LINEITEMS_TYPE})
    if listed.status_code != 200:
        raise GradeSendError(f"the line items answered {listed.status_code}")
    for item in listed.json():
        if item.get("resourceLinkId") == grade.resource_link_id and item.get("id"):
            return str(item["id"])
    made = client.post(grade.lineitems, json={"scoreMaximum": grade.score_maximum, "label": grade.label,
                                              "resourceLinkId": grade.resource_link_id, "tag": "course-guide-quiz"},
                       headers={**headers, "Content-Type": LINEITEM_TYPE})
    if made.status_code not in (200, 201):
        raise GradeSendError(f"making the line item answered {made.status_code}")
    return str(made.json()["id"])


def _send(client: httpx.Client, store: InteractionStore, grade: LtiGrade) -> None:
    registrations = [p for p in platforms_of(store, grade.issuer) if p.client_id == grade.client_id]
    if not registrations:
        raise GradeSendError(f"the platform {grade.issuer} ({grade.client_id}) is no longer registered")
    if not grade.user_id:
        raise GradeSendError("the grade names no platform user")
    scopes = [SCORE_SCOPE] if grade.lineitem else [SCORE_SCOPE, LINEITEM_SCOPE]
    token = _access_token(client, store, registrations[0].token_url, grade.client_id, scopes)
    headers = {"Authorization": f"Bearer {token}"}
    lineitem = _line_item(client, headers, grade)
    score = {"userId": grade.user_id, "scoreGiven": grade.score_given, "scoreMaximum": grade.score_maximum,
             "activityProgress": "Completed", "gradingProgress": "FullyGraded",
             "timestamp": utc(grade.created_at).isoformat(timespec="milliseconds"), "comment": f"Course Guide quiz {grade.session_id}"}
    response = client.post(_with_path(lineitem, "/scores"), json=score, headers={**headers, "Content-Type": SCORE_TYPE})
    if response.status_code not in (200, 201, 202, 204):
        raise GradeSendError(f"the score endpoint answered {response.status_code}: {response.text[:200]}")


def deliver_due(store: InteractionStore, retry_s: float, at: datetime | None = None) -> dict[str, int]:
    """Send every grade that is due; a failure is kept with its reason and tried again after retry_s × 2^(tries-1)."""
    at = at or now()
    counts = {"sent": 0, "failed": 0}
    claimed = _claim(store, at)
    if not claimed:
        return counts
    with httpx.Client(timeout=HTTP_TIMEOUT_S) as client:
        for grade in claimed:
            try:
                _send(client, store, grade)
            except (GradeSendError, httpx.HTTPError, ValueError, KeyError) as err:
                wait = min(retry_s * 2 ** grade.tries, MAX_BACKOFF_S)
                log.warning("grade %s for %s not sent (try %d), again in %.0f s: %s", grade.grade_id, grade.issuer, grade.tries + 1, wait, err)
                with store.session() as session:
                    session.execute(update(LtiGrade).where(LtiGrade.grade_id == grade.grade_id).values(
                        tries=LtiGrade.tries + 1, last_error=str(err)[:500], claimed_until=None, next_try_at=now() + timedelta(seconds=wait)))
                counts["failed"] += 1
                continue
            with store.session() as session:  # sent: the platform's user id is no longer needed here
                session.execute(update(LtiGrade).where(LtiGrade.grade_id == grade.grade_id).values(
                    sent_at=now(), tries=LtiGrade.tries + 1, claimed_until=None, user_id=None, last_error=None))
            counts["sent"] += 1
    return counts


def outbox(store: InteractionStore) -> list[dict[str, Any]]:
    """Every grade row, oldest first, as JSON (for `course-guide lti grades` and the tests)."""
    with store.session() as session:
        rows = session.execute(select(LtiGrade).order_by(LtiGrade.created_at, LtiGrade.grade_id)).scalars().all()
        return [{"grade_id": r.grade_id, "launch_id": r.launch_id, "session_id": r.session_id, "issuer": r.issuer, "label": r.label,
                 "score_given": r.score_given, "score_maximum": r.score_maximum, "tries": r.tries,
                 "sent_at": utc(r.sent_at).isoformat(timespec="seconds") if r.sent_at else None, "last_error": r.last_error}
                for r in rows]


class GradeSender:
    """A daemon thread that sends due grades every `every_s` seconds, and at once when `wake()` is called."""

    def __init__(self, store_factory, retry_s: float, every_s: float):
        self.store_factory, self.retry_s, self.every_s = store_factory, retry_s, every_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    def start(self) -> None:
        with self._starting:  # launches arrive on many threads at once: one sender
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lti-grades", daemon=True)
                self._thread.start()

    def wake(self) -> None:
        self.start()
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.every_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                deliver_due(self.store_factory(), self.retry_s)
            except Exception:  # noqa: BLE001 - the sender must outlive a store outage; the next round tries again
                log.exception("sending grades failed; trying again in %.0f s", self.every_s)
