"""The learner-interaction store's tables as SQLAlchemy 2 models: answered questions, votes, quiz sessions, attempts, review cards, and LTI."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

CHANNELS = ("chat", "widget", "api")
MAX_LEARNER_CHARS = 64
MAX_COURSE_CHARS = 40
# Which course a learner record belongs to: a registered course's name, or "" for the deployment's default course.
DEFAULT_COURSE_ID = ""


class Base(DeclarativeBase):
    pass


class Interaction(Base):
    """One question a learner asked and what the guide answered. Never an IP address or a name."""

    __tablename__ = "interactions"

    answer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    course: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))
    lesson: Mapped[str | None] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(Text)
    standalone: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    refused: Mapped[bool] = mapped_column(Boolean)
    scope: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # the cited passages: n, source, section, page, chunk_id
    nearest: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # the closest passages retrieval found (for refusals: the nearest lessons)
    answerer: Mapped[str] = mapped_column(String(32))
    latency_ms: Mapped[float] = mapped_column(Float)
    learner: Mapped[str | None] = mapped_column(String(MAX_LEARNER_CHARS), index=True)
    course_id: Mapped[str] = mapped_column(String(MAX_COURSE_CHARS), default=DEFAULT_COURSE_ID, server_default="", index=True)

    __table_args__ = (Index("ix_interactions_refused_asked_at", "refused", "asked_at"),)


class Feedback(Base):
    """A learner's vote on one answer; a second vote replaces the first."""

    __tablename__ = "feedback"

    answer_id: Mapped[str] = mapped_column(String(36), ForeignKey("interactions.answer_id", ondelete="CASCADE"), primary_key=True)
    helpful: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class QuizStart(Base):
    """A quiz session the server started for a learner: only replies in a session it started are stored, and only as theirs."""

    __tablename__ = "quiz_sessions"

    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    learner: Mapped[str] = mapped_column(String(MAX_LEARNER_CHARS), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    course_id: Mapped[str] = mapped_column(String(MAX_COURSE_CHARS), default=DEFAULT_COURSE_ID, server_default="", index=True)


class QuizAttempt(Base):
    """One graded reply to one quiz item. (session_id, item_id, presentation) is unique: the first reply to each time the
    item is asked in a session is the one stored (presentation 1 is an item brought back after a miss)."""

    __tablename__ = "quiz_attempts"

    attempt_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(36))
    learner: Mapped[str] = mapped_column(String(MAX_LEARNER_CHARS))
    item_id: Mapped[str] = mapped_column(String(200))
    lesson: Mapped[str] = mapped_column(String(200))  # the item's source file
    section: Mapped[str] = mapped_column(Text)
    reply: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    presentation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set when the learner disputes the grade ("I think my answer was right"); the instructor's quiz page lists these.
    disputed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    dispute_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    course_id: Mapped[str] = mapped_column(String(MAX_COURSE_CHARS), default=DEFAULT_COURSE_ID, server_default="", index=True)

    __table_args__ = (
        UniqueConstraint("session_id", "item_id", "presentation", name="uq_quiz_attempts_session_item_presentation"),
        Index("ix_quiz_attempts_learner_answered_at", "learner", "answered_at"),
        Index("ix_quiz_attempts_lesson", "lesson"),
    )


class ReviewCard(Base):
    """A learner's FSRS card for one item of one course (fsrs.Card.to_dict()), with its due time copied out for queries."""

    __tablename__ = "review_cards"

    learner: Mapped[str] = mapped_column(String(MAX_LEARNER_CHARS), primary_key=True)
    course_id: Mapped[str] = mapped_column(String(MAX_COURSE_CHARS), primary_key=True, default=DEFAULT_COURSE_ID, server_default="")
    item_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    lesson: Mapped[str] = mapped_column(String(200))
    card: Mapped[dict[str, Any]] = mapped_column(JSON)
    due: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reviews: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_review_cards_learner_due", "learner", "due"),)


# --- LTI 1.3 (issue 17): platforms the tool is registered with, its own signing keys, login states and grades to send.

class LtiPlatform(Base):
    """One registration of this tool in a course platform (Canvas, Moodle, Open edX): who signs its launches and where."""

    __tablename__ = "lti_platforms"

    issuer: Mapped[str] = mapped_column(String(400), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    deployment_ids: Mapped[list[str]] = mapped_column(JSON)
    auth_login_url: Mapped[str] = mapped_column(Text)
    token_url: Mapped[str] = mapped_column(Text)
    jwks_url: Mapped[str] = mapped_column(Text)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LtiToolKey(Base):
    """The tool's RSA key pair (its public half is served as the JWKS) and the secret that hashes platform user ids.

    Kept in the store, not a file, so every replica signs with the same key and gives a learner the same opaque id."""

    __tablename__ = "lti_tool_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text)
    learner_secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LtiLoginState(Base):
    """One OIDC login the tool started: its `state` and the `nonce` the launch's id_token must carry, used once.

    Kept server-side because the launch runs in a cross-site iframe, where no cookie could carry them."""

    __tablename__ = "lti_login_states"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    issuer: Mapped[str] = mapped_column(String(400))
    client_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LtiGrade(Base):
    """The outbox of quiz scores for the platforms' gradebooks (AGS): one row per (launch, quiz session), sent once.

    `user_id` is the platform's id of the learner, which the score must name; it is kept only until the score is sent."""

    __tablename__ = "lti_grades"

    grade_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    launch_id: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[str] = mapped_column(String(36))
    issuer: Mapped[str] = mapped_column(String(400))
    client_id: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(String(255))
    learner: Mapped[str] = mapped_column(String(MAX_LEARNER_CHARS))
    lineitem: Mapped[str | None] = mapped_column(Text)
    lineitems: Mapped[str | None] = mapped_column(Text)
    resource_link_id: Mapped[str | None] = mapped_column(String(255))
    label: Mapped[str] = mapped_column(String(255))
    score_given: Mapped[float] = mapped_column(Float)
    score_maximum: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    tries: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("launch_id", "session_id", name="uq_lti_grades_launch_session"),
        Index("ix_lti_grades_pending", "sent_at", "next_try_at"),
    )


class Course(Base):
    """One registered course of a deployment (`course-guide course add`): where its documents are, which sites may use
    it and who may see its instructor pages. Its index lives in the index store, its learner records carry its name."""

    __tablename__ = "courses"

    name: Mapped[str] = mapped_column(String(MAX_COURSE_CHARS), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    corpus_dir: Mapped[str] = mapped_column(Text)
    allowed_origins: Mapped[list[str]] = mapped_column(JSON)
    instructor_token_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
