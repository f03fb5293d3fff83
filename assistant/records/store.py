"""`Records`: the one seam to the records database (conversation log, feedback, reviews, call-backs).

Every public method runs in its own short transaction, so one instance serves a threaded web
server; the same code runs on SQLite (one machine) and PostgreSQL (several replicas).

>>> records = Records("sqlite:///data/records.sqlite3")
>>> reply = {"answer": "...", "triage": {"level": "routine"}}
>>> turn_id = records.log_turn("c1", "my name is Sarah, my back hurts", reply)
>>> records.list_turns(limit=1)[0]["user_message"]
'my name is [name], my back hurts'
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import delete, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, sessionmaker

from assistant.guardrails.redact import redact
from assistant.records import review
from assistant.records.engine import WRITE, open_engine, parse, translated
from assistant.records.errors import RecordNotFound
from assistant.records.migrate import upgrade
from assistant.records.models import (
    SHORT,
    ApprovedAnswer,
    ArticleReview,
    Callback,
    Conversation,
    Feedback,
    Review,
    Turn,
    UTCDateTime,
)

LONG = 1000  # free-text notes and comments
CALLBACK_STATUSES = ("open", "done")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Records:
    """The records database at `url` (`sqlite:///path` or `postgresql+psycopg://...`), migrated on open.

    `clock` is the one source of "now", so tests can age records without waiting.
    Raises `RecordsError` when the database cannot be reached.
    """

    def __init__(self, url: str, *, clock: Callable[[], dt.datetime] = utc_now) -> None:
        self.url = parse(url)
        self._clock = clock
        self.engine = open_engine(self.url)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.engine.execution_options(**{WRITE: True}), expire_on_commit=False)
        try:
            self.migration = upgrade(self.engine)  # two replicas opening at once take turns (see migrate.py)
        except BaseException:
            self.engine.dispose()
            raise

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _session(self, *, write: bool = False) -> Iterator[Session]:
        with translated(self.url), (self._write if write else self._read).begin() as session:
            yield session

    # --- the conversation log -------------------------------------------------------------

    def log_turn(
        self,
        conversation_id: str,
        user_message: str,
        reply: Mapping[str, Any] | Any,
        *,
        client_id: str | None = None,
        at: dt.datetime | None = None,
    ) -> int:
        """Store one exchange (the user message redacted) and return the turn id.

        `reply` is a Contract 1 object (DESIGN.md): a dict, or the `Reply` model itself. `at` is when
        the exchange happened, for a turn written late (from the outbox); the default is now.
        """
        conversation_id = _text("conversation id", conversation_id, SHORT)
        fields = turn_fields(reply)
        message = redact(user_message)  # before the write lock: long messages take a moment
        now = self._clock() if at is None else at
        with self._session(write=True) as session:
            session.execute(_upsert(session, conversation_id, None if client_id is None else client_id[:SHORT], now))
            turn = Turn(conversation_id=conversation_id, created_at=now, user_message=message, **fields)
            session.add(turn)
            session.flush()
            return turn.id

    def add_feedback(self, turn_id: int, liked: bool, comment: str | None = None) -> None:
        """A thumbs up or down on a turn; the comment is redacted like the message."""
        comment = None if comment is None else redact(_text("comment", comment, LONG, required=False))
        with self._session(write=True) as session:
            review.get_turn(session, turn_id)
            session.add(Feedback(turn_id=turn_id, liked=bool(liked), comment=comment or None, created_at=self._clock()))

    # --- call-back requests ---------------------------------------------------------------

    def add_callback(self, name: str, contact: str, preferred_time: str, consent: bool, note: str | None = None) -> int:
        """Store a call-back request and return its id; it is committed before this returns.

        Raises `ValueError` (nothing stored) without consent, or with an empty or over-long field.
        """
        if consent is not True:
            raise ValueError(
                "A call-back request needs the patient's consent to store their name and contact details; "
                "nothing was stored."
            )
        row = Callback(
            name=_text("name", name, SHORT),
            contact=_text("contact", contact, SHORT),
            preferred_time=_text("preferred time", preferred_time, SHORT, required=False),
            note=_text("note", note or "", LONG, required=False) or None,
            consent=True,
            status="open",
            created_at=self._clock(),
        )
        with self._session(write=True) as session:
            session.add(row)
            session.flush()
            return row.id

    def list_callbacks(self, status: str | None = None) -> list[dict[str, Any]]:
        """Call-back requests, oldest first (the order to ring them back in)."""
        if status is not None and status not in CALLBACK_STATUSES:
            raise ValueError(f"status must be one of {CALLBACK_STATUSES}, not {status!r}")
        query = select(Callback).order_by(Callback.created_at, Callback.id)
        if status is not None:
            query = query.where(Callback.status == status)
        with self._session() as session:
            return [_callback_row(row) for row in session.scalars(query)]

    def mark_callback_done(self, callback_id: int) -> None:
        with self._session(write=True) as session:
            row = session.get(Callback, callback_id)
            if row is None:
                raise RecordNotFound(f"No call-back request with id {callback_id}.")
            row.status, row.done_at = "done", self._clock()

    # --- clinician review ----------------------------------------------------------------

    def list_turns(
        self,
        level: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        reviewed: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Logged turns, newest first, with feedback counts and the latest review.

        `since` is inclusive, `until` exclusive; naive datetimes are taken as UTC.
        """
        if limit < 1 or offset < 0:
            raise ValueError("limit must be at least 1 and offset at least 0")
        with self._session() as session:
            return review.list_turns(
                session, level=level, since=since, until=until, reviewed=reviewed, limit=limit, offset=offset
            )

    def approve_turn(self, turn_id: int, reviewer: str) -> None:
        """Mark the assistant's answer as right."""
        reviewer = _text("reviewer", reviewer, SHORT)
        with self._session(write=True) as session:
            review.add_review(session, review.get_turn(session, turn_id), reviewer, self._clock())

    def correct_turn(self, turn_id: int, reviewer: str, corrected_answer: str) -> int:
        """Record a correction; it becomes an approved answer to the turn's question. Returns that answer's id."""
        reviewer = _text("reviewer", reviewer, SHORT)
        corrected_answer = _text("corrected answer", corrected_answer, None)
        with self._session(write=True) as session:
            turn = review.get_turn(session, turn_id)
            answer_id = review.add_review(session, turn, reviewer, self._clock(), corrected_answer)
            assert answer_id is not None
            return answer_id

    def approved_answers(self) -> list[dict[str, Any]]:
        """Active clinician-approved answers: id, question, answer, reviewer, created."""
        with self._session() as session:
            return review.approved_answers(session)

    def flag_article(self, article_id: str, reviewer: str, note: str) -> None:
        """A clinician's concern about an article, shown until its status is next set."""
        row = ArticleReview(
            article_id=_text("article id", article_id, SHORT),
            reviewer=_text("reviewer", reviewer, SHORT),
            action="flag",
            note=_text("note", note, LONG),
            created_at=self._clock(),
        )
        with self._session(write=True) as session:
            session.add(row)

    def set_article_status(self, article_id: str, status: review.ArticleStatus, reviewer: str) -> None:
        """Approve (or send back to draft) an article without editing its file."""
        if status not in review.ARTICLE_STATUSES:
            raise ValueError(f"status must be one of {review.ARTICLE_STATUSES}, not {status!r}")
        row = ArticleReview(
            article_id=_text("article id", article_id, SHORT),
            reviewer=_text("reviewer", reviewer, SHORT),
            action="status",
            status=status,
            created_at=self._clock(),
        )
        with self._session(write=True) as session:
            session.add(row)

    def article_statuses(self) -> dict[str, dict[str, Any]]:
        """`{article_id: {"status", "reviewer", "updated", "flags"}}` for every article touched in the UI."""
        with self._session() as session:
            return review.article_statuses(session)

    def export_reviews(self) -> list[dict[str, Any]]:
        """Reviewed turns as eval rows: id, message, expected_answer, review, level, reviewer, created (ISO)."""
        with self._session() as session:
            return review.export_reviews(session)

    # --- retention -----------------------------------------------------------------------

    def purge(self, older_than_days: int) -> int:
        """Delete conversations whose last message is older than that, with their turns, feedback
        and reviews; approved answers stay. Returns how many conversations went."""
        if older_than_days < 0:
            raise ValueError("older_than_days must be 0 or more")
        cutoff = self._clock() - dt.timedelta(days=older_than_days)
        old = select(Conversation.id).where(Conversation.updated_at < cutoff)
        old_turns = select(Turn.id).where(Turn.conversation_id.in_(old))
        with self._session(write=True) as session:
            # explicit order rather than ON DELETE CASCADE: correct even where foreign keys are off
            session.execute(
                update(ApprovedAnswer).where(ApprovedAnswer.turn_id.in_(old_turns)).values(turn_id=None),
                execution_options={"synchronize_session": False},
            )
            for table in (Feedback, Review):
                session.execute(
                    delete(table).where(table.turn_id.in_(old_turns)), execution_options={"synchronize_session": False}
                )
            session.execute(
                delete(Turn).where(Turn.conversation_id.in_(old)), execution_options={"synchronize_session": False}
            )
            result = session.execute(
                delete(Conversation).where(Conversation.updated_at < cutoff),
                execution_options={"synchronize_session": False},
            )
            return int(cast("CursorResult[Any]", result).rowcount)  # a DELETE's result is a cursor result


def turn_fields(reply: Mapping[str, Any] | Any) -> dict[str, Any]:
    """The columns of a turn from a Contract 1 reply; flag evidence quotes the user, so it is redacted too."""
    data: dict[str, Any] = reply.model_dump(mode="json") if hasattr(reply, "model_dump") else dict(reply)
    data = json.loads(json.dumps(data, default=_jsonable))
    triage = data.get("triage") or {}
    flags = [
        {**flag, "evidence": redact(str(flag.get("evidence", "")))} if isinstance(flag, dict) else flag
        for flag in triage.get("flags") or []
    ]
    return {
        "answer": str(data.get("answer") or ""),
        "level": triage.get("level"),
        "flags": flags,
        "sources": list(data.get("sources") or []),
        "exercises": list(data.get("exercises") or []),
        "refused": bool(data.get("refused", False)),
        "latency_ms": float(data.get("latency_ms") or 0.0),
    }


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return getattr(value, "value", str(value))  # enums by value ("urgent", not "Level.urgent")


def _upsert(session: Session, conversation_id: str, client_id: str | None, now: dt.datetime) -> Any:
    """Create the conversation on first use and touch it after; one statement, so concurrent first turns cannot clash.

    A turn written late (from the outbox) never moves `updated_at` back: retention counts from the newest message.
    """
    values = {"id": conversation_id, "client_id": client_id, "created_at": now, "updated_at": now}
    dialect = session.get_bind().dialect.name
    stamp = literal(now, UTCDateTime())
    if dialect == "postgresql":
        pg = postgresql.insert(Conversation).values(values)
        return pg.on_conflict_do_update(
            index_elements=[Conversation.id], set_={"updated_at": func.greatest(Conversation.updated_at, stamp)}
        )
    if dialect == "sqlite":
        lite = sqlite.insert(Conversation).values(values)
        return lite.on_conflict_do_update(
            index_elements=[Conversation.id], set_={"updated_at": func.max(Conversation.updated_at, stamp)}
        )
    raise NotImplementedError(f"records support SQLite and PostgreSQL, not {dialect}")


def _text(field: str, value: str, cap: int | None, *, required: bool = True) -> str:
    """Trimmed `value`, or `ValueError` naming the field when it is empty (and required) or too long."""
    value = (value or "").strip()
    if required and not value:
        raise ValueError(f"The {field} is empty; please fill it in.")
    if cap is not None and len(value) > cap:
        raise ValueError(f"The {field} is {len(value)} characters long; keep it to {cap}.")
    return value


def _callback_row(row: Callback) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "contact": row.contact,
        "preferred_time": row.preferred_time,
        "note": row.note,
        "status": row.status,
        "created": row.created_at,
        "done_at": row.done_at,
    }
