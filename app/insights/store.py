"""The learner-interaction store: SQLite in the state folder or any SQLAlchemy URL, migrated by Alembic when it opens."""
from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, create_engine, delete, event, func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.insights.models import DEFAULT_COURSE_ID, Feedback, Interaction, QuizAttempt, QuizStart, ReviewCard
from core.settings import Settings

log = logging.getLogger("course_guide")

MIGRATIONS = Path(__file__).parent / "migrations"
MAX_PAGE = 500
# How long a write waits for another writer's lock before it counts as a failure. 20 writers at once need well under
# 1 s on a quiet machine, but 5 s was once exceeded in CI while a 100k-chunk bench loaded the disk, and a lost quiz
# attempt is worse than a slow one.
SQLITE_BUSY_TIMEOUT_S = 15


class StoreError(RuntimeError):
    """The interaction store cannot be opened or used; the message says what to do."""


class UnknownAnswerError(LookupError):
    """Feedback for an answer_id the store never recorded (or has deleted)."""


def utc(moment: datetime) -> datetime:
    """`moment` as an aware UTC datetime (SQLite hands back naive ones, which we always wrote in UTC)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def now() -> datetime:
    return datetime.now(timezone.utc)


def _engine(url: str) -> Engine:
    try:
        return _create_engine(url)
    except (ArgumentError, ImportError) as err:  # NoSuchModuleError (an unknown database kind) is an ArgumentError
        raise StoreError(f"COURSE_GUIDE_STORE_URL is not a database URL this Course Guide can use ({err}); write it as "
                         "postgresql+psycopg://USER:PASSWORD@HOST/DB, or unset it for SQLite in the state folder.") from None


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}, pool_pre_ping=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            # WAL lets readers (the dashboard) work while answers are recorded; NORMAL is durable in WAL mode.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    connect_args = {"connect_timeout": 5} if parsed.get_backend_name() == "postgresql" else {}
    return create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args=connect_args)


# Alembic keeps its migration context in module globals, so one process migrates one store at a time; between
# processes (replicas), PostgreSQL's advisory lock in migrations/env.py does the same.
_MIGRATING = threading.Lock()


def migrate(engine: Engine) -> None:
    """Bring the store's schema to the newest revision shipped in app/insights/migrations."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _MIGRATING, engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class InteractionStore:
    """What learners asked and how they voted, in a real database; safe to share between threads and replicas."""

    def __init__(self, url: str, retention_days: int = 180, course_id: str = DEFAULT_COURSE_ID):
        self.url = url
        self.course_id = course_id  # the course whose records this store reads and writes (see for_course)
        self.retention = timedelta(days=retention_days)
        self.engine = _engine(url)
        try:
            migrate(self.engine)
        except SQLAlchemyError as err:
            self.engine.dispose()
            raise StoreError(f"The interaction store at {self.describe()} cannot be opened: {err.__class__.__name__}: "
                             f"{str(err).splitlines()[0]}. Check COURSE_GUIDE_STORE_URL / COURSE_GUIDE_STATE_DIR.") from None
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def open(cls, settings: Settings) -> InteractionStore:
        try:
            url = settings.store_location()
        except ValueError as err:
            raise StoreError(f"The interaction store cannot be opened: {err}.") from None
        return cls(url, settings.retention_days).for_course(settings.course_key())

    def for_course(self, course_id: str) -> InteractionStore:
        """The same database (one engine, one pool), reading and writing only `course_id`'s learner records."""
        if course_id == self.course_id:
            return self
        view = copy.copy(self)
        view.course_id = course_id
        return view

    def describe(self) -> str:
        """The store's URL without its password, for logs and /api/health."""
        return make_url(self.url).render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions.begin() as session:
            yield session

    # --- writing ---------------------------------------------------------------------------------

    def add(self, row: dict[str, Any]) -> None:
        """Record one interaction (the columns of models.Interaction)."""
        with self.session() as session:
            session.add(Interaction(**row, course_id=self.course_id))

    def vote(self, answer_id: str, helpful: bool, comment: str | None) -> None:
        """Store a learner's vote; a second vote on the same answer replaces the first. UnknownAnswerError if no such answer."""
        values = {"answer_id": answer_id, "helpful": helpful, "comment": comment or None, "updated_at": now()}
        with self.session() as session:
            answered = session.get(Interaction, answer_id)
            if answered is None or answered.course_id != self.course_id:  # another course's answer is not this one's to vote on
                raise UnknownAnswerError(answer_id)
            dialect = session.get_bind().dialect.name
            statement: Any
            if dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as postgresql_insert

                statement = postgresql_insert(Feedback).values(**values)
            elif dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert as sqlite_insert

                statement = sqlite_insert(Feedback).values(**values)
            else:  # any other database: replace by hand
                session.merge(Feedback(**values))
                return
            session.execute(statement.on_conflict_do_update(
                index_elements=[Feedback.answer_id],
                set_={"helpful": statement.excluded.helpful, "comment": statement.excluded.comment, "updated_at": statement.excluded.updated_at},
            ))

    def forget(self, learner: str) -> int:
        """Delete every record of one learner (their votes, quiz attempts and review cards too); the number of questions deleted."""
        with self.session() as session:
            for model in (ReviewCard, QuizStart, QuizAttempt):
                session.execute(delete(model).where(model.learner == learner))
            ids = select(Interaction.answer_id).where(Interaction.learner == learner)
            session.execute(delete(Feedback).where(Feedback.answer_id.in_(ids)))
            return _rowcount(session.execute(delete(Interaction).where(Interaction.learner == learner)))

    def merge_learner(self, source: str, target: str) -> int:
        """Move every record of learner `source` to learner `target` (one browser known by two ids: the widget's and the
        chat's). Where both have a review card for an item, the target's stays. The number of rows moved."""
        if source == target:
            return 0
        with self.session() as session:
            # Every course's records move: a learner id names one person across the deployment.
            kept = session.execute(select(ReviewCard.course_id, ReviewCard.item_id).where(ReviewCard.learner == target)).all()
            for course_id, item_id in kept:
                session.execute(delete(ReviewCard).where(ReviewCard.learner == source, ReviewCard.course_id == course_id,
                                                         ReviewCard.item_id == item_id))
            moved = 0
            for model in (ReviewCard, QuizStart, QuizAttempt, Interaction):
                moved += _rowcount(session.execute(update(model).where(model.learner == source).values(learner=target)))
            return moved

    def purge(self, at: datetime | None = None) -> int:
        """Delete records older than the retention period (quiz attempts, sessions and cards untouched since then too);
        the number of questions deleted."""
        cutoff = (at or now()) - self.retention
        with self.session() as session:
            session.execute(delete(QuizAttempt).where(QuizAttempt.answered_at < cutoff))
            session.execute(delete(QuizStart).where(QuizStart.started_at < cutoff))
            session.execute(delete(ReviewCard).where(ReviewCard.due < cutoff))
            ids = select(Interaction.answer_id).where(Interaction.asked_at < cutoff)
            session.execute(delete(Feedback).where(Feedback.answer_id.in_(ids)))
            deleted = _rowcount(session.execute(delete(Interaction).where(Interaction.asked_at < cutoff)))
        if deleted:
            log.info("deleted %d learner records older than %d days", deleted, self.retention.days)
        return deleted

    # --- reading ---------------------------------------------------------------------------------

    def _filtered(self, statement, since: datetime | None, until: datetime | None, channel: str | None,
                  lesson: str | None, refused: bool | None):
        statement = statement.where(Interaction.course_id == self.course_id)
        if since is not None:
            statement = statement.where(Interaction.asked_at >= since)
        if until is not None:
            statement = statement.where(Interaction.asked_at < until)
        if channel:
            statement = statement.where(Interaction.channel == channel)
        if lesson:
            statement = statement.where(Interaction.lesson == lesson)
        if refused is not None:
            statement = statement.where(Interaction.refused == refused)
        return statement

    def questions(self, *, since: datetime | None = None, until: datetime | None = None, channel: str | None = None,
                  lesson: str | None = None, refused: bool | None = None, limit: int | None = 50, offset: int = 0,
                  answer_ids: list[str] | None = None) -> tuple[list[dict[str, Any]], int]:
        """Recorded questions with their votes, newest first, and how many match in all."""
        base = self._filtered(select(Interaction, Feedback).outerjoin(Feedback, Feedback.answer_id == Interaction.answer_id),
                              since, until, channel, lesson, refused)
        counted = self._filtered(select(func.count()).select_from(Interaction), since, until, channel, lesson, refused)
        if answer_ids is not None:
            base = base.where(Interaction.answer_id.in_(answer_ids))
            counted = counted.where(Interaction.answer_id.in_(answer_ids))
        base = base.order_by(Interaction.asked_at.desc(), Interaction.answer_id.desc()).offset(offset)
        if limit is not None:
            base = base.limit(min(limit, MAX_PAGE))
        with self.session() as session:
            total: int = session.execute(counted).scalar_one()
            # Rows of (Interaction, Feedback | None); the select is built in steps, so its row type is not inferred.
            rows = [question_dict(cast(Interaction, interaction), cast("Feedback | None", feedback)) for interaction, feedback in session.execute(base).all()]
        return rows, total

    def learners(self, *, since: datetime | None = None, until: datetime | None = None, channel: str | None = None,
                 lesson: str | None = None) -> int:
        """How many distinct (anonymous) learners asked in the period."""
        statement = self._filtered(select(func.count(func.distinct(Interaction.learner))), since, until, channel, lesson, None)
        with self.session() as session:
            return session.execute(statement).scalar_one()

    def count(self) -> int:
        """How many questions this course's learners asked."""
        with self.session() as session:
            return session.execute(select(func.count()).select_from(Interaction).where(Interaction.course_id == self.course_id)).scalar_one()

    def forget_course(self) -> int:
        """Delete every learner record of this store's course (a removed course); the number of questions deleted."""
        with self.session() as session:
            ids = select(Interaction.answer_id).where(Interaction.course_id == self.course_id)
            session.execute(delete(Feedback).where(Feedback.answer_id.in_(ids)))
            for model in (ReviewCard, QuizAttempt, QuizStart):
                session.execute(delete(model).where(model.course_id == self.course_id))
            return _rowcount(session.execute(delete(Interaction).where(Interaction.course_id == self.course_id)))


def question_dict(interaction: Interaction, feedback: Feedback | None) -> dict[str, Any]:
    """One recorded question as JSON: what GET /api/instructor/questions lists."""
    return {
        "answer_id": interaction.answer_id,
        "asked_at": utc(interaction.asked_at).isoformat(timespec="seconds"),
        "course": interaction.course,
        "channel": interaction.channel,
        "lesson": interaction.lesson,
        "question": interaction.question,
        "standalone_question": interaction.standalone,
        "answer": interaction.answer,
        "refused": interaction.refused,
        "scope": interaction.scope,
        "sources": interaction.sources,
        "nearest": interaction.nearest,
        "answerer": interaction.answerer,
        "latency_ms": round(interaction.latency_ms, 1),
        "helpful": None if feedback is None else feedback.helpful,
        "comment": None if feedback is None else feedback.comment,
    }


def _rowcount(result: Any) -> int:
    """Rows a DELETE removed (SQLAlchemy types execute()'s result as a plain Result, which has no rowcount)."""
    return int(result.rowcount)
