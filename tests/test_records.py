"""The records database, on SQLite and on PostgreSQL with the same tests.

The `db_url` fixture (tests/conftest.py) gives each test an empty database on each backend:
PostgreSQL from PHYSIO_TEST_POSTGRES_URL, a schema of its own per test.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from assistant.models import ExerciseRef, FlagHit, Level, Reply, SourceRef, Triage
from assistant.records import RecordNotFound, Records, RecordsError

START = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)


class Clock:
    """The records' sense of "now", moved by the test instead of by waiting."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def records(db_url: str, clock: Clock) -> Iterator[Records]:
    opened = Records(db_url, clock=clock)
    yield opened
    opened.close()


def reply(level: str = "self_care", answer: str = "Keep gently active.", **extra: Any) -> dict[str, Any]:
    """A Contract 1 reply (DESIGN.md)."""
    return {
        "id": "c1",
        "triage": {"level": level, "flags": extra.pop("flags", []), "screening_question": None},
        "answer": answer,
        "sources": [{"id": "what-is-sciatica", "title": "What is sciatica?", "score": 0.83}],
        "exercises": [{"id": "hamstring-stretch", "name": "Hamstring stretch", "category": "stretching"}],
        "disclaimer": "This is general information, not a diagnosis.",
        "refused": False,
        "latency_ms": 12.3,
        **extra,
    }


# --- the conversation log ----------------------------------------------------------------


def test_logged_message_is_redacted(records: Records) -> None:
    records.log_turn("c1", "my name is Sarah Jones, call 07700 900123. I'm 67, pain at L4/L5", reply())
    assert records.list_turns()[0]["user_message"] == "my name is [name], call [phone]. I'm 67, pain at L4/L5"


def test_a_logged_turn_keeps_the_whole_reply(records: Records) -> None:
    flags = [{"id": "cauda_equina", "evidence": "numb down there, ring me on 07700 900123"}]
    turn_id = records.log_turn("c1", "help", reply("emergency", "Call 999 now.", flags=flags, refused=True))
    [row] = records.list_turns()
    assert row["id"] == turn_id
    assert row["conversation_id"] == "c1"
    assert row["created"] == START
    assert (row["answer"], row["level"], row["refused"], row["latency_ms"]) == (
        "Call 999 now.",
        "emergency",
        True,
        12.3,
    )
    assert row["flags"] == [{"id": "cauda_equina", "evidence": "numb down there, ring me on [phone]"}]
    assert row["sources"] == [{"id": "what-is-sciatica", "title": "What is sciatica?", "score": 0.83}]
    assert row["exercises"] == [{"id": "hamstring-stretch", "name": "Hamstring stretch", "category": "stretching"}]
    assert (row["liked"], row["disliked"], row["review_status"]) == (0, 0, None)


def test_the_reply_model_itself_can_be_logged(records: Records) -> None:
    model = Reply(
        triage=Triage(level=Level.urgent, flags=[FlagHit(id="foot_drop", evidence="my foot slaps")]),
        answer="See a doctor today.",
        sources=[SourceRef(id="a", title="A", score=0.5)],
        exercises=[ExerciseRef(id="clam", name="Clam", category="strengthening")],
    )
    records.log_turn("c1", "my foot slaps", model)
    [row] = records.list_turns()
    assert row["level"] == "urgent"
    assert row["flags"][0]["evidence"] == "my foot slaps"
    assert row["exercises"][0]["id"] == "clam"


def test_turns_of_one_conversation_share_one_conversation(records: Records) -> None:
    first = records.log_turn("c1", "hello", reply(), client_id="browser-1")
    second = records.log_turn("c1", "and then?", reply())
    assert second > first
    assert {row["conversation_id"] for row in records.list_turns()} == {"c1"}
    assert records.purge(older_than_days=0) == 0  # its last message is now, not older
    with pytest.raises(ValueError, match="conversation id is empty"):
        records.log_turn("  ", "hello", reply())


def test_turns_are_listed_newest_first_a_page_at_a_time(records: Records, clock: Clock) -> None:
    ids = []
    for i in range(5):
        ids.append(records.log_turn(f"c{i}", f"question {i}", reply()))
        clock.advance(minutes=1)
    assert [row["id"] for row in records.list_turns(limit=2)] == ids[::-1][:2]
    assert [row["id"] for row in records.list_turns(limit=2, offset=2)] == ids[::-1][2:4]
    with pytest.raises(ValueError):
        records.list_turns(limit=0)


def test_turns_can_be_filtered_by_level_time_and_review(records: Records, clock: Clock) -> None:
    early = records.log_turn("c1", "back ache", reply("self_care"))
    clock.advance(hours=2)
    late = records.log_turn("c2", "numb saddle", reply("emergency"))
    records.approve_turn(early, "dr-a")

    assert [row["id"] for row in records.list_turns(level="emergency")] == [late]
    assert [row["id"] for row in records.list_turns(since=START + dt.timedelta(hours=1))] == [late]
    assert [row["id"] for row in records.list_turns(until=START + dt.timedelta(hours=1))] == [early]
    naive = (START + dt.timedelta(hours=1)).replace(tzinfo=None)  # naive means UTC
    assert [row["id"] for row in records.list_turns(since=naive)] == [late]
    assert [row["id"] for row in records.list_turns(reviewed=True)] == [early]
    assert [row["id"] for row in records.list_turns(reviewed=False)] == [late]


def test_feedback_is_counted_per_turn_and_its_comment_redacted(records: Records) -> None:
    liked_turn = records.log_turn("c1", "q1", reply())
    other = records.log_turn("c1", "q2", reply())
    records.add_feedback(liked_turn, True)
    records.add_feedback(liked_turn, True, "helpful, thanks - Tom, 07700 900123")
    records.add_feedback(liked_turn, False)
    rows = {row["id"]: row for row in records.list_turns()}
    assert (rows[liked_turn]["liked"], rows[liked_turn]["disliked"]) == (2, 1)
    assert rows[liked_turn]["comments"] == ["helpful, thanks - Tom, [phone]"]
    assert (rows[other]["liked"], rows[other]["disliked"], rows[other]["comments"]) == (0, 0, [])


def test_feedback_on_an_unknown_turn_is_refused(records: Records) -> None:
    with pytest.raises(RecordNotFound, match="No conversation turn with id 999"):
        records.add_feedback(999, True)


# --- clinician review --------------------------------------------------------------------


def test_approving_a_turn_marks_it_reviewed(records: Records, clock: Clock) -> None:
    turn_id = records.log_turn("c1", "is walking good?", reply())
    clock.advance(days=1)
    records.approve_turn(turn_id, "dr-a")
    [row] = records.list_turns()
    assert (row["review_status"], row["reviewer"], row["reviewed_at"]) == ("approved", "dr-a", clock.now)
    assert records.approved_answers() == []
    with pytest.raises(ValueError, match="reviewer is empty"):
        records.approve_turn(turn_id, "")
    with pytest.raises(RecordNotFound):
        records.approve_turn(turn_id + 1, "dr-a")


def test_correction_becomes_an_approved_answer(records: Records) -> None:
    turn_id = records.log_turn("c1", "can I run with sciatica? my name is Sarah", reply(answer="No."))
    answer_id = records.correct_turn(turn_id, "dr-b", "Gentle running is usually fine if pain allows.")
    assert records.approved_answers() == [
        {
            "id": answer_id,
            "question": "can I run with sciatica? my name is [name]",
            "answer": "Gentle running is usually fine if pain allows.",
            "reviewer": "dr-b",
            "created": START,
        }
    ]
    [row] = records.list_turns()
    assert (row["review_status"], row["corrected_answer"]) == (
        "corrected",
        "Gentle running is usually fine if pain allows.",
    )
    with pytest.raises(ValueError, match="corrected answer is empty"):
        records.correct_turn(turn_id, "dr-b", "  ")


def test_the_newest_review_of_a_turn_wins(records: Records) -> None:
    turn_id = records.log_turn("c1", "q", reply())
    records.correct_turn(turn_id, "dr-a", "first correction")
    newer = records.correct_turn(turn_id, "dr-b", "better correction")
    assert [a["id"] for a in records.approved_answers()] == [newer]
    records.approve_turn(turn_id, "dr-c")  # the original answer was right after all
    assert records.approved_answers() == []
    assert records.list_turns()[0]["review_status"] == "approved"


def test_reviews_export_as_eval_rows(records: Records) -> None:
    approved = records.log_turn("c1", "what is sciatica?", reply(answer="Irritated nerve."))
    corrected = records.log_turn("c2", "numb groin", reply("urgent", "See your GP."))
    records.log_turn("c3", "not reviewed", reply())
    records.approve_turn(approved, "dr-a")
    records.correct_turn(corrected, "dr-b", "Call 999 now.")
    assert records.export_reviews() == [
        {"id": f"review-{approved}", "message": "what is sciatica?", "expected_answer": "Irritated nerve.",
         "review": "approved", "level": "self_care", "reviewer": "dr-a", "created": START.isoformat()},
        {"id": f"review-{corrected}", "message": "numb groin", "expected_answer": "Call 999 now.",
         "review": "corrected", "level": "urgent", "reviewer": "dr-b", "created": START.isoformat()},
    ]  # fmt: skip


def test_article_status_is_an_overlay_set_from_the_web_ui(records: Records, clock: Clock) -> None:
    assert records.article_statuses() == {}
    records.set_article_status("what-is-sciatica", "approved", "dr-a")
    clock.advance(days=1)
    records.flag_article("what-is-sciatica", "dr-b", "the driving advice is out of date")
    records.flag_article("cause-piriformis", "dr-b", "needs a source")
    statuses = records.article_statuses()
    assert statuses["what-is-sciatica"]["status"] == "approved"
    assert statuses["what-is-sciatica"]["flags"] == [
        {"reviewer": "dr-b", "note": "the driving advice is out of date", "created": clock.now}
    ]
    assert statuses["cause-piriformis"]["status"] is None
    records.set_article_status("what-is-sciatica", "draft", "dr-b")
    assert records.article_statuses()["what-is-sciatica"] == {
        "status": "draft",
        "reviewer": "dr-b",
        "updated": clock.now,
        "flags": [],
    }
    with pytest.raises(ValueError, match="status must be one of"):
        records.set_article_status("what-is-sciatica", "published", "dr-b")  # type: ignore[arg-type]


# --- call-back requests ------------------------------------------------------------------


def test_callback_without_consent_is_refused(records: Records) -> None:
    with pytest.raises(ValueError, match="needs the patient's consent"):
        records.add_callback("Sarah Jones", "07700 900123", "mornings", consent=False)
    assert records.list_callbacks() == []


@pytest.mark.parametrize(
    ("name", "contact", "note", "problem"),
    [
        ("", "07700 900123", None, "name is empty"),
        ("Sarah", "   ", None, "contact is empty"),
        ("S" * 201, "07700 900123", None, "name is 201 characters long; keep it to 200"),
        ("Sarah", "0" * 201, None, "contact is 201 characters long"),
        ("Sarah", "07700 900123", "n" * 1001, "note is 1001 characters long; keep it to 1000"),
    ],
)
def test_callback_with_a_missing_or_overlong_field_is_refused(
    records: Records, name: str, contact: str, note: str | None, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        records.add_callback(name, contact, "any time", consent=True, note=note)
    assert records.list_callbacks() == []


def test_an_acknowledged_callback_survives_a_restart(db_url: str, records: Records) -> None:
    callback_id = records.add_callback(" Sarah Jones ", "07700 900123", "after 5pm", consent=True, note="leg pain")
    records.close()
    reopened = Records(db_url)
    try:
        [row] = reopened.list_callbacks()
    finally:
        reopened.close()
    assert row["id"] == callback_id
    assert (row["name"], row["contact"], row["preferred_time"], row["note"]) == (
        "Sarah Jones",
        "07700 900123",
        "after 5pm",
        "leg pain",
    )
    assert row["status"] == "open"


def test_callbacks_wait_in_order_until_marked_done(records: Records, clock: Clock) -> None:
    first = records.add_callback("Ann", "ann@example.org", "", consent=True)
    clock.advance(minutes=5)
    second = records.add_callback("Bob", "07700 900456", "morning", consent=True)
    assert [row["id"] for row in records.list_callbacks("open")] == [first, second]
    clock.advance(hours=1)
    records.mark_callback_done(first)
    assert [row["id"] for row in records.list_callbacks("open")] == [second]
    [done] = records.list_callbacks("done")
    assert (done["id"], done["done_at"]) == (first, clock.now)
    with pytest.raises(RecordNotFound):
        records.mark_callback_done(12345)
    with pytest.raises(ValueError):
        records.list_callbacks("closed")


# --- retention ---------------------------------------------------------------------------


def test_purge_deletes_old_conversations_with_their_turns_feedback_and_reviews(records: Records, clock: Clock) -> None:
    old = records.log_turn("old", "q", reply())
    records.add_feedback(old, False, "wrong")
    records.approve_turn(old, "dr-a")
    clock.advance(days=400)
    recent = records.log_turn("recent", "q", reply())
    assert records.purge(older_than_days=365) == 1
    assert [row["id"] for row in records.list_turns()] == [recent]
    assert records.export_reviews() == []
    with pytest.raises(RecordNotFound):
        records.add_feedback(old, True)
    assert records.purge(older_than_days=365) == 0


def test_purge_keeps_approved_answers(records: Records, clock: Clock) -> None:
    old = records.log_turn("old", "can I swim?", reply())
    answer_id = records.correct_turn(old, "dr-a", "Yes, swimming is a good choice.")
    clock.advance(days=400)
    assert records.purge(older_than_days=365) == 1
    assert [(a["id"], a["question"]) for a in records.approved_answers()] == [(answer_id, "can I swim?")]


def test_purge_counts_from_the_last_message(records: Records, clock: Clock) -> None:
    records.log_turn("c1", "first", reply())
    clock.advance(days=300)
    records.log_turn("c1", "still here", reply())
    clock.advance(days=100)
    assert records.purge(older_than_days=365) == 0
    assert len(records.list_turns()) == 2


# --- many users at once ------------------------------------------------------------------


@pytest.mark.slow  # seconds: threads racing, scrypt checks or app start-ups
def test_two_threads_writing_at_once_lose_nothing(records: Records) -> None:
    def patient(worker: int) -> list[int]:
        ids = []
        for i in range(25):
            # every worker also writes to one shared conversation, created by whichever comes first
            conversation = "shared" if i % 5 == 0 else f"w{worker}"
            turn_id = records.log_turn(conversation, f"worker {worker} message {i}", reply())
            records.add_feedback(turn_id, liked=i % 2 == 0)
            ids.append(turn_id)
        records.add_callback(f"Patient {worker}", f"0770090{worker:04d}", "any", consent=True)
        return ids

    with ThreadPoolExecutor(max_workers=8) as pool:
        written = [turn_id for ids in pool.map(patient, range(8)) for turn_id in ids]

    rows = records.list_turns(limit=1000)
    assert len(written) == len(set(written)) == len(rows) == 200
    assert sum(row["liked"] + row["disliked"] for row in rows) == 200
    assert sum(row["conversation_id"] == "shared" for row in rows) == 40
    assert len(records.list_callbacks()) == 8


# --- errors and set-up -------------------------------------------------------------------


def test_an_unreachable_database_says_what_to_check(tmp_path: Path) -> None:
    with pytest.raises(RecordsError, match="PHYSIO_DATABASE_URL") as caught:
        Records("postgresql+psycopg://physio:s3cret@127.0.0.1:1/records")
    assert "s3cret" not in str(caught.value)
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(RecordsError, match="PHYSIO_DATABASE_URL"):
        Records(f"sqlite:///{tmp_path / 'a-file' / 'records.sqlite3'}")
    with pytest.raises(RecordsError, match="not a database URL"):
        Records("records.sqlite3")
    with pytest.raises(RecordsError, match=r"pip install 'physio-assistant\[postgres\]'"):
        Records("postgresql+nodriver://physio@127.0.0.1/records")  # as when the [postgres] extra is not installed


def test_sqlite_uses_wal_a_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    records = Records(f"sqlite:///{tmp_path / 'nested' / 'records.sqlite3'}")
    try:
        with records.engine.connect() as connection:

            def pragma(name: str) -> object:
                return connection.exec_driver_sql(f"PRAGMA {name}").scalar()

            assert (pragma("journal_mode"), pragma("busy_timeout"), pragma("foreign_keys")) == ("wal", 5000, 1)
    finally:
        records.close()


def test_an_in_memory_database_is_shared_by_threads() -> None:
    records = Records("sqlite://")
    try:
        turn_id = records.log_turn("c1", "hello", reply())
        with ThreadPoolExecutor(max_workers=1) as pool:
            assert pool.submit(lambda: records.list_turns()[0]["id"]).result() == turn_id
    finally:
        records.close()


def test_a_late_turn_keeps_its_time_and_does_not_move_the_conversation_back(db_url: str) -> None:
    """A turn written late (from the outbox) keeps when it happened; retention counts from the newest message."""
    from assistant.records.models import Conversation

    records = Records(db_url)
    try:
        new, old = START + dt.timedelta(days=2), START + dt.timedelta(days=1)
        records.log_turn("c-late", "the second message", reply(), at=new)
        records.log_turn("c-late", "the first message, written late", reply(), at=old)
        assert [t["created"] for t in records.list_turns()] == [new, old]
        with records._session() as session:
            assert session.get(Conversation, "c-late").updated_at == new
    finally:
        records.close()


def test_the_sqlite_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """Health data: 0600 files (SQLite gives its -wal and -shm files the database's mode); a new folder is 0700."""
    path = tmp_path / "new-folder" / "records.sqlite3"
    records = Records(f"sqlite:///{path}")
    try:
        records.log_turn("c1", "my back hurts", reply())
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
        assert {f.name: oct(f.stat().st_mode & 0o777) for f in files if f.exists()} == {
            f.name: "0o600" for f in files if f.exists()
        }
        assert path.with_name(path.name + "-wal").exists()
        assert path.parent.stat().st_mode & 0o777 == 0o700
    finally:
        records.close()
    path.chmod(0o644)  # made by an older version
    Records(f"sqlite:///{path}").close()
    assert path.stat().st_mode & 0o777 == 0o600
