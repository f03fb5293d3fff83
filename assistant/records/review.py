"""Clinician review queries: the turn list, verdicts, approved answers, article overlay, eval export.

Plain functions over a session; `Records` owns the transactions and calls these.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from assistant.records.errors import RecordNotFound
from assistant.records.models import ApprovedAnswer, ArticleReview, Feedback, Review, Turn, as_utc

ArticleStatus = Literal["draft", "approved"]
ARTICLE_STATUSES = ("draft", "approved")


def list_turns(
    session: Session,
    *,
    level: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    reviewed: bool | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    query = select(Turn).order_by(Turn.created_at.desc(), Turn.id.desc()).limit(limit).offset(offset)
    if level is not None:
        query = query.where(Turn.level == level)
    if since is not None:
        query = query.where(Turn.created_at >= as_utc(since))
    if until is not None:
        query = query.where(Turn.created_at < as_utc(until))
    if reviewed is not None:
        has_review = exists().where(Review.turn_id == Turn.id)
        query = query.where(has_review if reviewed else ~has_review)
    turns = list(session.scalars(query))
    ids = [turn.id for turn in turns]
    feedback: dict[int, list[Feedback]] = {turn_id: [] for turn_id in ids}
    for row in session.scalars(select(Feedback).where(Feedback.turn_id.in_(ids)).order_by(Feedback.id)):
        feedback[row.turn_id].append(row)
    latest = latest_reviews(session, ids)
    return [_turn_row(turn, feedback[turn.id], latest.get(turn.id)) for turn in turns]


def _turn_row(turn: Turn, feedback: list[Feedback], review: Review | None) -> dict[str, Any]:
    return {
        "id": turn.id,
        "conversation_id": turn.conversation_id,
        "created": turn.created_at,
        "user_message": turn.user_message,
        "answer": turn.answer,
        "level": turn.level,
        "flags": turn.flags,
        "sources": turn.sources,
        "exercises": turn.exercises,
        "refused": turn.refused,
        "latency_ms": turn.latency_ms,
        "liked": sum(f.liked for f in feedback),
        "disliked": sum(not f.liked for f in feedback),
        "comments": [f.comment for f in feedback if f.comment],
        "review_status": review.verdict if review else None,
        "reviewer": review.reviewer if review else None,
        "corrected_answer": review.corrected_answer if review else None,
        "reviewed_at": review.created_at if review else None,
    }


def latest_reviews(session: Session, turn_ids: list[int] | None = None) -> dict[int, Review]:
    """The newest review of each turn (of the given turns, or of all)."""
    query = select(Review).order_by(Review.created_at, Review.id)
    if turn_ids is not None:
        query = query.where(Review.turn_id.in_(turn_ids))
    return {review.turn_id: review for review in session.scalars(query)}


def get_turn(session: Session, turn_id: int) -> Turn:
    turn = session.get(Turn, turn_id)
    if turn is None:
        raise RecordNotFound(f"No conversation turn with id {turn_id} (it may have been purged).")
    return turn


def add_review(
    session: Session, turn: Turn, reviewer: str, now: dt.datetime, corrected_answer: str | None = None
) -> int | None:
    """Record the verdict; a correction becomes the one active approved answer from this turn."""
    verdict = "approved" if corrected_answer is None else "corrected"
    session.add(
        Review(turn_id=turn.id, reviewer=reviewer, verdict=verdict, corrected_answer=corrected_answer, created_at=now)
    )
    # the newest verdict wins: an earlier correction of this turn no longer speaks for it
    session.execute(
        update(ApprovedAnswer).where(ApprovedAnswer.turn_id == turn.id, ApprovedAnswer.active).values(active=False)
    )
    if corrected_answer is None:
        return None
    answer = ApprovedAnswer(
        question=turn.user_message,
        answer=corrected_answer,
        reviewer=reviewer,
        created_at=now,
        active=True,
        turn_id=turn.id,
    )
    session.add(answer)
    session.flush()
    return answer.id


def approved_answers(session: Session) -> list[dict[str, Any]]:
    query = select(ApprovedAnswer).where(ApprovedAnswer.active).order_by(ApprovedAnswer.id)
    return [
        {"id": a.id, "question": a.question, "answer": a.answer, "reviewer": a.reviewer, "created": a.created_at}
        for a in session.scalars(query)
    ]


def article_statuses(session: Session) -> dict[str, dict[str, Any]]:
    """Per article: the status last set in the web UI (None if only flagged), and the flags raised since."""
    out: dict[str, dict[str, Any]] = {}
    for row in session.scalars(select(ArticleReview).order_by(ArticleReview.created_at, ArticleReview.id)):
        entry = out.setdefault(row.article_id, {"status": None, "reviewer": None, "updated": None, "flags": []})
        if row.action == "status":
            entry.update(status=row.status, reviewer=row.reviewer, updated=row.created_at, flags=[])
        else:
            entry["flags"].append({"reviewer": row.reviewer, "note": row.note, "created": row.created_at})
    return out


def export_reviews(session: Session) -> list[dict[str, Any]]:
    latest = latest_reviews(session)
    turns: list[Turn] = list(session.scalars(select(Turn).where(Turn.id.in_(list(latest))).order_by(Turn.id)))
    return [
        {
            "id": f"review-{turn.id}",
            "message": turn.user_message,
            "expected_answer": latest[turn.id].corrected_answer or turn.answer,
            "review": latest[turn.id].verdict,
            "level": turn.level,
            "reviewer": latest[turn.id].reviewer,
            "created": latest[turn.id].created_at.isoformat(),
        }
        for turn in turns
    ]
