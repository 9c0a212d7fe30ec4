"""Learner progress: graded quiz attempts stored once, FSRS review cards, mastery per lesson, and the items of a review quiz.

Fair storage: the server grades every reply itself (app.quiz.grading) and stores that grade, never a score the client
sends. An attempt is stored only in a session the server started for that same learner (quiz_sessions), and only the
first reply to an item in a session counts: (session_id, item_id) is unique, so a replayed turn is stored once and a
re-ask later in the same quiz (a missed item brought back) is practice, not a second review.

Rating for FSRS (fsrs.Rating): wrong → Again, partly → Hard, correct → Good. Easy is not used: the only signal for it
would be how fast the learner replied, and that time comes from the client, which could send any.

Mastery of a lesson: the learner's last MASTERY_WINDOW attempts on it, newest first, weighted MASTERY_DECAY ** i (the
newest weighs 1, the one before 0.8, ...): mastery = Σ wᵢ·scoreᵢ / Σ wᵢ, between 0 and 1 (scores: correct 1,
partly the grader's partial score, wrong 0)."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from fsrs import Card, Rating, Scheduler
from sqlalchemy import literal, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.engine.guide import Guide
from app.insights.models import CHANNELS, MAX_LEARNER_CHARS, QuizAttempt, QuizStart, ReviewCard
from app.insights.recording import Recorder, RecordingOff
from app.insights.store import InteractionStore, StoreError, now, utc
from app.quiz.bank import course_items
from app.quiz.session import QuizSession, QuizTurn
from core.quiz import QuizItem

log = logging.getLogger("course_guide")

RATINGS = {"wrong": Rating.Again, "partly": Rating.Hard, "correct": Rating.Good}
# FSRS's default parameters; fuzzing off, so every replica schedules the same reply to the same due time.
SCHEDULER = Scheduler(enable_fuzzing=False)
MASTERY_WINDOW = 10
MASTERY_DECAY = 0.8
REVIEW_BELOW = 0.8  # a lesson with a lower mastery, or with items due, is one to review next
MAX_REPLY_CHARS = 2000
# A quiz brings a missed item back at most once (app.quiz.session._bring_back), so a session stores at most two attempts
# per item, whatever a forged session's results claim.
MAX_PRESENTATION = 1
ATTEMPT_KEY = ["session_id", "item_id", "presentation"]


def rating_for(verdict: str) -> Rating:
    return RATINGS[verdict]


def schedule(card: Card | None, verdict: str, at: datetime) -> Card:
    """The card after one graded reply at `at` (a new card for an item never answered)."""
    # card_id given: fsrs makes one from the clock and sleeps a millisecond to keep it unique, which we do not need.
    reviewed, _log = SCHEDULER.review_card(card or Card(card_id=1, due=at), rating_for(verdict), review_datetime=at)
    return reviewed


def mastery(scores_newest_first: Iterable[float]) -> float:
    weights_scores = [(MASTERY_DECAY ** i, score) for i, score in enumerate(list(scores_newest_first)[:MASTERY_WINDOW])]
    total = sum(w for w, _ in weights_scores)
    return round(sum(w * s for w, s in weights_scores) / total, 3) if total else 0.0


def valid_learner(learner: str | None) -> str | None:
    return learner if isinstance(learner, str) and 0 < len(learner) <= MAX_LEARNER_CHARS else None


# --------------------------------------------------------------------------------- writing

def start_session(store: InteractionStore, session_id: str, learner: str, at: datetime | None = None) -> None:
    with store.session() as session:
        session.add(QuizStart(session_id=session_id, learner=learner, started_at=at or now(), course_id=store.course_id))


def store_attempt(store: InteractionStore, *, session_id: str, learner: str, item: QuizItem, reply: str, score: float,
                  verdict: str, channel: str, presentation: int = 0, at: datetime | None = None) -> str | None:
    """Store one graded reply and reschedule the learner's card for the item; its attempt_id, or None when it is not
    stored: a session the server did not start for this learner, or this presentation of the item already answered
    (`presentation` 0 is the first time the item is asked in the session, 1 the time it is brought back after a miss)."""
    assert channel in CHANNELS, channel
    at = at or now()
    attempt_id = str(uuid.uuid4())
    values = {"attempt_id": attempt_id, "session_id": session_id, "learner": learner, "item_id": item.id, "lesson": item.source[:200],
              "section": item.section, "reply": reply[:MAX_REPLY_CHARS], "score": float(score), "verdict": verdict,
              "channel": channel, "answered_at": at, "presentation": min(max(presentation, 0), MAX_PRESENTATION),
              "course_id": store.course_id}
    try:
        return _store_attempt(store, values, item, learner, verdict, at)
    except _NotABringBack:
        return None


class _NotABringBack(Exception):
    """Raised inside the attempt's transaction to roll back a second presentation the store holds no miss for."""


def _store_attempt(store: InteractionStore, values: dict[str, Any], item: QuizItem, learner: str, verdict: str, at: datetime) -> str | None:
    attempt_id = values["attempt_id"]
    with store.session() as session:
        # One statement stores the attempt only in a session the server started for this learner, and only once per item;
        # as a write it also makes SQLite take its write lock before anything is read in this transaction (a read first
        # would have to upgrade its lock later, which SQLite refuses at once under concurrent writers: "database is locked").
        if not _insert_attempt(session, values):
            return None
        if values["presentation"] and not _missed_before(session, values):
            raise _NotABringBack  # rolls the insert back
        course_id = values["course_id"]
        statement = select(ReviewCard).where(ReviewCard.learner == learner, ReviewCard.course_id == course_id,
                                             ReviewCard.item_id == item.id).with_for_update()
        row = session.execute(statement).scalar_one_or_none()
        if row is None:
            card = schedule(None, verdict, at)
            new = {"learner": learner, "course_id": course_id, "item_id": item.id, "lesson": item.source[:200],
                   "card": dict(card.to_dict()), "due": card.due, "reviews": 1}
            if _insert_ignoring_duplicate(session, ReviewCard, new, ["learner", "course_id", "item_id"]):
                return attempt_id
            row = session.execute(statement).scalar_one()  # another reply made the card a moment ago
        card = schedule(Card.from_dict(cast(Any, row.card)), verdict, at)
        row.card, row.due, row.reviews = dict(card.to_dict()), card.due, row.reviews + 1
    return attempt_id


def _missed_before(session: Session, values: dict[str, Any]) -> bool:
    """Whether this session's stored first reply to the item was a miss: only then does the quiz bring the item back, so
    a session that merely claims a bring-back (forged, or replayed) gets no second attempt."""
    first = select(QuizAttempt.verdict).where(QuizAttempt.session_id == values["session_id"], QuizAttempt.learner == values["learner"],
                                              QuizAttempt.item_id == values["item_id"], QuizAttempt.presentation == 0)
    verdict = session.execute(first).scalar_one_or_none()
    return verdict is not None and verdict != "correct"


def _insert_attempt(session: Session, values: dict[str, Any]) -> bool:
    """INSERT INTO quiz_attempts ... SELECT ... FROM quiz_sessions WHERE (the session is this learner's) ON CONFLICT DO NOTHING."""
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        started = session.get(QuizStart, values["session_id"])
        if started is None or started.learner != values["learner"] or started.course_id != values["course_id"]:
            return False
        return _insert_ignoring_duplicate(session, QuizAttempt, values, ATTEMPT_KEY)
    dialect_insert: Any
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        dialect_insert = postgresql_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        dialect_insert = sqlite_insert
    columns = [key for key in values if key not in ("session_id", "learner")]
    chosen = select(QuizStart.session_id, QuizStart.learner, *[literal(values[key], type_=QuizAttempt.__table__.c[key].type).label(key) for key in columns])
    # The session must be this learner's, in this course: a session started in another course stores nothing here.
    chosen = chosen.where(QuizStart.session_id == values["session_id"], QuizStart.learner == values["learner"],
                          QuizStart.course_id == values["course_id"])
    statement = dialect_insert(QuizAttempt).from_select(["session_id", "learner", *columns], chosen)
    returning = statement.on_conflict_do_nothing(index_elements=ATTEMPT_KEY).returning(QuizAttempt.attempt_id)
    return session.execute(returning).first() is not None


def _insert_ignoring_duplicate(session: Session, model: Any, values: dict[str, Any], keys: list[str]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; whether the row was inserted."""
    dialect = session.get_bind().dialect.name
    statement: Any
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        statement = postgresql_insert(model).values(**values).on_conflict_do_nothing(index_elements=keys)
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(model).values(**values).on_conflict_do_nothing(index_elements=keys)
    else:
        where = [getattr(model, key) == values[key] for key in keys]
        if session.execute(select(model).where(*where)).first() is not None:
            return False
        session.add(model(**values))
        session.flush()
        return True
    # RETURNING, not rowcount: psycopg reports -1 rows for an INSERT ... ON CONFLICT.
    return session.execute(statement.returning(*[getattr(model, key) for key in keys])).first() is not None


def dispute_attempt(store: InteractionStore, attempt_id: str, learner: str, comment: str | None = None) -> bool:
    """Mark one of this learner's stored attempts as disputed (a second dispute replaces the comment); False when the
    learner has no such attempt. The grade itself never changes: the instructor reads the dispute and decides."""
    with store.session() as session:
        attempt = session.get(QuizAttempt, attempt_id)
        if attempt is None or attempt.learner != learner or attempt.course_id != store.course_id:
            return False
        attempt.disputed_at = now()
        attempt.dispute_comment = (comment or "").strip()[:MAX_REPLY_CHARS] or None
        return True


# --------------------------------------------------------------------------------- reading

def attempts(store: InteractionStore, learner: str | None = None, lesson: str | None = None) -> list[dict[str, Any]]:
    """Stored attempts, oldest first (one learner's, one lesson's, or all)."""
    statement = select(QuizAttempt).where(QuizAttempt.course_id == store.course_id).order_by(QuizAttempt.answered_at, QuizAttempt.attempt_id)
    if learner is not None:
        statement = statement.where(QuizAttempt.learner == learner)
    if lesson is not None:
        statement = statement.where(QuizAttempt.lesson == lesson)
    with store.session() as session:
        return [{"attempt_id": a.attempt_id, "session_id": a.session_id, "learner": a.learner, "item_id": a.item_id,
                 "lesson": a.lesson, "section": a.section, "reply": a.reply, "score": a.score, "verdict": a.verdict,
                 "channel": a.channel, "answered_at": utc(a.answered_at).isoformat(timespec="seconds"),
                 "disputed": a.disputed_at is not None, "dispute_comment": a.dispute_comment}
                for a in session.execute(statement).scalars()]


def cards(store: InteractionStore, learner: str) -> dict[str, ReviewCard]:
    with store.session() as session:
        chosen = select(ReviewCard).where(ReviewCard.learner == learner, ReviewCard.course_id == store.course_id)
        return {c.item_id: c for c in session.execute(chosen).scalars()}


def lesson_mastery(rows: list[dict[str, Any]]) -> dict[str, tuple[float, int]]:
    """(mastery, attempts) per lesson from attempts oldest first."""
    by_lesson: dict[str, list[float]] = {}
    for row in rows:
        by_lesson.setdefault(row["lesson"], []).append(row["score"])
    return {lesson: (mastery(reversed(scores)), len(scores)) for lesson, scores in by_lesson.items()}


def progress(guide: Guide, store: InteractionStore, learner: str, at: datetime | None = None) -> dict[str, Any]:
    """What GET /api/progress returns: per-lesson mastery and items due, the lessons to review next, and the due count.
    A learner with no records gets empty lists and zero due."""
    at = at or now()
    items = course_items(guide)
    per_lesson = lesson_mastery(attempts(store, learner))
    due: dict[str, list[str]] = {}
    for card in sorted(cards(store, learner).values(), key=lambda c: utc(c.due)):
        if utc(card.due) <= at and card.item_id in items:
            due.setdefault(card.lesson, []).append(card.item_id)
    files = guide.index.refresh().files
    lessons: list[dict[str, Any]] = []
    for lesson in sorted(set(per_lesson) | set(due)):
        score, count = per_lesson.get(lesson, (0.0, 0))
        entry = files.get(lesson)
        lessons.append({"lesson": lesson, "title": entry.title if entry else lesson, "url": f"{guide.settings.course_path()}/course/{lesson}",
                        "mastery": score, "attempts": count, "due": len(due.get(lesson, []))})
    review_next = [row["lesson"] for row in sorted(lessons, key=lambda r: (-r["due"], r["mastery"], r["lesson"]))
                   if row["due"] or row["mastery"] < REVIEW_BELOW]
    return {"learner": learner, "lessons": lessons, "due": sum(len(ids) for ids in due.values()),
            "due_items": [item_id for ids in due.values() for item_id in ids], "review_next": review_next}


def review_items(guide: Guide, store: InteractionStore, learner: str, n: int, lesson: str | None = None,
                 at: datetime | None = None) -> list[QuizItem]:
    """A review quiz: the learner's due items (most overdue first), then items never answered from their weakest lessons
    (lessons answered, lowest mastery first, then the lessons never tried)."""
    at = at or now()
    items = course_items(guide)
    known = cards(store, learner)
    due = [items[c.item_id] for c in sorted(known.values(), key=lambda c: utc(c.due))
           if utc(c.due) <= at and c.item_id in items and (lesson is None or c.lesson == lesson)]
    per_lesson = lesson_mastery(attempts(store, learner))
    lessons = sorted({i.source for i in items.values()}, key=lambda source: (source not in per_lesson, per_lesson.get(source, (0.0, 0))[0], source))
    if lesson is not None:
        lessons = [lesson]
    fresh = [item for source in lessons for item in items.values() if item.source == source and item.id not in known]
    return (due + fresh)[:n]


def due_count(guide: Guide, store: InteractionStore, learner: str) -> int:
    return int(progress(guide, store, learner)["due"])


# --------------------------------------------------------------------------------- the front ends' calls

def started(recorder: Recorder, turn: QuizTurn, learner: str | None) -> None:
    """Remember that the server started this quiz for this learner (nothing without a learner id or with recording off)."""
    learner = valid_learner(learner)
    if learner is None or not recorder.enabled or turn.session.session_id is None:
        return
    try:
        start_session(recorder.store(), turn.session.session_id, learner)
    except (StoreError, SQLAlchemyError, RecordingOff) as err:
        log.warning("could not store the start of a quiz (the quiz goes on): %s", err)


def record_turn(recorder: Recorder, before: QuizSession, turn: QuizTurn, reply: str, learner: str | None, channel: str) -> str | None:
    """Store the graded reply of one quiz turn; its attempt_id, or None when nothing was stored. Never fails the turn."""
    learner = valid_learner(learner)
    if learner is None or not recorder.enabled or turn.feedback is None or before.session_id is None:
        return None
    grade = turn.feedback.grade
    # A missed item the quiz brought back is its second presentation; store_attempt checks the store agrees it was missed.
    item_id = turn.feedback.item.id
    presentation = int(item_id in before.brought_back and any(r.get("item_id") == item_id for r in before.results))
    try:
        return store_attempt(recorder.store(), session_id=before.session_id, learner=learner, item=turn.feedback.item,
                             reply=reply, score=grade.score, verdict=grade.verdict, channel=channel, presentation=presentation)
    except (StoreError, SQLAlchemyError, RecordingOff) as err:
        log.warning("could not store a quiz attempt (the quiz goes on): %s", err)
        return None


def merge_learners(recorder: Recorder, source: str, target: str) -> int:
    """Move learner `source`'s records to `target` (the widget and the chat found to be one browser); the rows moved.
    Never fails the page that asked: with the store down the two ids stay apart, and the log says so."""
    if not recorder.enabled or source == target:
        return 0
    try:
        return recorder.store().merge_learner(source, target)
    except (StoreError, SQLAlchemyError, RecordingOff) as err:
        log.warning("could not merge two learner ids (their progress stays apart for now): %s", err)
        return 0
