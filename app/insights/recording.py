"""The one recording call every front end makes after the one answer function: it never fails an answer."""
from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from app.insights.models import CHANNELS, MAX_LEARNER_CHARS
from app.insights.store import InteractionStore, StoreError, now
from core.settings import Settings
from core.types import Answer

log = logging.getLogger("course_guide")

# After a failure the store is tried again at most this often, so a dead or hanging database slows at most one
# answer in that time; the answers in between are served and counted as not recorded.
RETRY_AFTER_S = 5.0
PURGE_EVERY_S = 3600.0
NEAREST_KEPT = 3


class RecordingOff(RuntimeError):
    """Recording is switched off, so there is nothing to vote on or look at."""


def interaction_row(answer: Answer, answer_id: str, *, channel: str, course: str, learner: str | None,
                    lesson: str | None, asked_at: datetime | None = None) -> dict[str, Any]:
    """The columns one answer is recorded with: never an IP address or a name."""
    ranked = [hit for hit in answer.retrieved if hit.neighbour_of is None][:NEAREST_KEPT]
    return {
        "answer_id": answer_id,
        "asked_at": asked_at or now(),
        "course": course[:200],
        "channel": channel,
        "lesson": lesson[:200] if lesson else None,
        "question": answer.question,
        "standalone": answer.standalone_question or answer.question,
        "answer": answer.answer,
        "refused": answer.refused,
        "scope": answer.scope,
        "sources": [{"n": c.n, "source": c.source, "title": c.title, "section": c.section, "page": c.page, "chunk_id": c.chunk_id}
                    for c in answer.citations],
        "nearest": [{"source": h.chunk.source, "title": h.chunk.title, "section": h.chunk.section, "page": h.chunk.page,
                     "score": round(h.score, 4)} for h in ranked],
        "answerer": answer.answerer,
        "latency_ms": float(answer.timings_ms.get("total", 0.0)),
        "learner": learner if isinstance(learner, str) and 0 < len(learner) <= MAX_LEARNER_CHARS else None,
    }


class Recorder:
    """Records answers from the chat, the widget and the API (never the CLI or eval) into the interaction store.

    A store that is locked, full or down never fails an answer: the failure is logged, shown by /api/health,
    and the next answer tries again, so recording resumes by itself when the store is back."""

    def __init__(self, settings: Settings, store: InteractionStore | None = None, *, parent: Recorder | None = None):
        self.settings = settings
        self.enabled = settings.record_interactions
        self._store = store
        self._parent = parent  # a course's recorder writes through the deployment's one store (see for_course)
        self._lock = threading.Lock()
        self._retry_at = 0.0
        self._next_purge = 0.0
        self.error: str | None = None
        self.failing_since: datetime | None = None
        self.recorded = 0
        self.failed = 0

    def for_course(self, settings: Settings) -> Recorder:
        """A recorder for the registered course `settings` names, sharing this recorder's database connection pool."""
        return Recorder(settings, parent=self)

    def _opened(self) -> InteractionStore:
        if self._parent is not None:
            return self._parent._opened().for_course(self.settings.course_key())
        with self._lock:
            if self._store is None:
                self._store = InteractionStore.open(self.settings)
                log.info("recording learner questions in %s", self._store.describe())
            store = self._store
            purge = time.monotonic() >= self._next_purge
            if purge:
                self._next_purge = time.monotonic() + PURGE_EVERY_S
        if purge:
            store.purge()
        return store

    def store(self) -> InteractionStore:
        """The open store, for feedback and the instructor's views; RecordingOff or StoreError when there is none."""
        if not self.enabled:
            raise RecordingOff("Recording is off on this Course Guide (COURSE_GUIDE_RECORD_INTERACTIONS=false), so there are "
                               "no learner records; set it to true and restart to collect them.")
        try:
            return self._opened()
        except (SQLAlchemyError, OSError) as err:
            raise StoreError(f"The interaction store cannot be reached ({err.__class__.__name__}); the answers go on. "
                             "Check the database and COURSE_GUIDE_STORE_URL.") from None

    def record(self, answer: Answer, *, channel: str, learner: str | None = None, lesson: str | None = None) -> str:
        """Record one answer and return its answer_id (always one, even when recording is off or the store failed)."""
        assert channel in CHANNELS, channel
        answer_id = str(uuid.uuid4())
        if not self.enabled:
            return answer_id
        if time.monotonic() < self._retry_at:  # the store failed a moment ago: do not make this learner wait for it too
            with self._lock:
                self.failed += 1
            return answer_id
        try:
            store = self._opened()
            store.add(interaction_row(answer, answer_id, channel=channel, course=self.settings.course_label(),
                                      learner=learner, lesson=lesson))
        except (SQLAlchemyError, OSError, StoreError) as err:
            self._failed(err)
        else:
            self._succeeded()
        return answer_id

    def _failed(self, err: Exception) -> None:
        message = str(err).splitlines()[0] if str(err) else err.__class__.__name__
        with self._lock:
            self.failed += 1
            self._retry_at = time.monotonic() + RETRY_AFTER_S
            first = self.error is None
            self.error = f"{err.__class__.__name__}: {message}"
            self.failing_since = self.failing_since or datetime.now(timezone.utc)
        if first:
            log.error("could not record a learner question (the answer was served): %s", self.error)
        else:
            log.warning("still cannot record learner questions: %s", self.error)

    def _succeeded(self) -> None:
        with self._lock:
            self.recorded += 1
            if self.error is not None:
                log.info("recording learner questions again after: %s", self.error)
            self.error, self.failing_since = None, None

    def health(self) -> dict[str, Any]:
        """What /api/health says about recording."""
        if not self.enabled:
            return {"enabled": False}
        report: dict[str, Any] = {"enabled": True, "ok": self.error is None, "recorded": self.recorded, "failed": self.failed}
        opened = self._parent._store if self._parent is not None else self._store
        if opened is not None:
            report["store"] = opened.describe()
        if self.error:
            report["error"] = (f"Learner questions are not being recorded ({self.error}); answers are still served. "
                               "Check the interaction store (COURSE_GUIDE_STORE_URL / COURSE_GUIDE_STATE_DIR).")
            report["failing_since"] = self.failing_since.isoformat(timespec="seconds") if self.failing_since else None
        return report

    def close(self) -> None:
        if self._parent is not None:  # the deployment's recorder closes the shared store
            return
        with self._lock:
            if self._store is not None:
                self._store.close()
