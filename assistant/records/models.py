"""The records tables (SQLAlchemy 2, typed). Plain columns only, so SQLite and PostgreSQL behave alike."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Dialect, Float, ForeignKey, Index, String, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SHORT = 200  # names, contacts, reviewers, ids: enough for any real value, small enough to index


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every backend (SQLite would otherwise hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else as_utc(value)


def as_utc(value: dt.datetime) -> dt.datetime:
    """Naive datetimes are taken to be UTC already."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(SHORT), primary_key=True)
    client_id: Mapped[str | None] = mapped_column(String(SHORT))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime] = mapped_column(index=True)  # retention counts from the last message


class Turn(Base):
    """One user message and the reply it got; the user message is stored redacted."""

    __tablename__ = "turns"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(index=True)
    user_message: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    level: Mapped[str | None] = mapped_column(String(16), index=True)
    flags: Mapped[list[Any]]
    sources: Mapped[list[Any]]
    exercises: Mapped[list[Any]]
    refused: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[float] = mapped_column(Float)


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), index=True)
    liked: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]


class Review(Base):
    """A clinician's verdict on a turn; the newest review of a turn is its status."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), index=True)
    reviewer: Mapped[str] = mapped_column(String(SHORT))
    verdict: Mapped[str] = mapped_column(String(16))  # approved | corrected
    corrected_answer: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]


class ApprovedAnswer(Base):
    """A clinician-written answer that retrieval prefers; it outlives the conversation it came from."""

    __tablename__ = "approved_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(SHORT))
    created_at: Mapped[dt.datetime]
    active: Mapped[bool] = mapped_column(Boolean, index=True)
    turn_id: Mapped[int | None] = mapped_column(ForeignKey("turns.id", ondelete="SET NULL"))


class ArticleReview(Base):
    """A status change or a flag on a knowledge article: an overlay over the files' front matter."""

    __tablename__ = "article_reviews"
    __table_args__ = (Index("ix_article_reviews_article_created", "article_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[str] = mapped_column(String(SHORT))
    reviewer: Mapped[str] = mapped_column(String(SHORT))
    action: Mapped[str] = mapped_column(String(16))  # status | flag
    status: Mapped[str | None] = mapped_column(String(16))  # draft | approved, for action == status
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]


class Callback(Base):
    """A patient's request to be called back; stored only with their consent."""

    __tablename__ = "callbacks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(SHORT))
    contact: Mapped[str] = mapped_column(String(SHORT))
    preferred_time: Mapped[str] = mapped_column(String(SHORT))
    note: Mapped[str | None] = mapped_column(Text)
    consent: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(8), index=True)  # open | done
    created_at: Mapped[dt.datetime]
    done_at: Mapped[dt.datetime | None]
