"""The learner-interaction store's tables as SQLAlchemy 2 models: one row per answered question, one vote per answer."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

CHANNELS = ("chat", "widget", "api")
MAX_LEARNER_CHARS = 64


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

    __table_args__ = (Index("ix_interactions_refused_asked_at", "refused", "asked_at"),)


class Feedback(Base):
    """A learner's vote on one answer; a second vote replaces the first."""

    __tablename__ = "feedback"

    answer_id: Mapped[str] = mapped_column(String(36), ForeignKey("interactions.answer_id", ondelete="CASCADE"), primary_key=True)
    helpful: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
