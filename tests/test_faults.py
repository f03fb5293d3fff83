"""Faults with real parts: a locked records database, and processes killed with SIGKILL mid-save."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.records import Records

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_a_locked_records_database_never_stops_the_chat_and_nothing_is_lost(built_settings, tmp_path: Path) -> None:
    from assistant.conversation import Assistant

    db = tmp_path / "records.sqlite3"
    records = Records(f"sqlite:///{db}")
    bot = Assistant.load(built_settings, records=records)
    locker = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    locker.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
    try:
        reply = bot.reply("is walking ok with sciatica?", conversation_id="c-locked")
        assert reply.answer and reply.sources, "the patient still gets the answer"
        assert reply.turn_id is None and bot.outbox is not None and bot.outbox.pending == 1
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    later = bot.reply("what about swimming?", conversation_id="c-locked")
    assert later.turn_id is not None and bot.outbox.pending == 0
    messages = [t["user_message"] for t in records.list_turns(limit=10)]
    assert messages == ["what about swimming?", "is walking ok with sciatica?"]


SAVE_IN_CHILD = """
import os, sys, threading
from assistant.records import Records
records = Records(sys.argv[1])
turn = records.log_turn("c1", "my back hurts", {"answer": "a", "triage": {"level": "self_care"}})
print(turn, flush=True)
i = 0
while True:
    i += 1
    if sys.argv[2] == "callback":
        records.add_callback(f"Name {i}", f"0770090{i:04d}", "morning", True)
    else:
        records.correct_turn(turn, "physio", f"corrected answer number {i} " + "x" * 500)
    print(i, flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("what", ["callback", "review"])
def test_sigkill_during_saves_leaves_the_database_consistent(tmp_path: Path, what: str) -> None:
    url = f"sqlite:///{tmp_path / 'records.sqlite3'}"
    Records(url).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", SAVE_IN_CHILD, url, what], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    acknowledged = 0
    deadline = time.time() + 20
    while acknowledged < 30 and time.time() < deadline:
        line = proc.stdout.readline()
        if line.strip().isdigit():
            acknowledged = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    records = Records(url)
    if what == "callback":
        stored = records.list_callbacks()
        assert len(stored) >= acknowledged, "every acknowledged call-back survived"
        assert all(c["name"].startswith("Name ") and c["contact"] for c in stored), "no half-written rows"
    else:
        answers = records.approved_answers()
        assert len(answers) == 1, "exactly one active correction, never a half-written one"
        assert answers[0]["answer"].startswith("corrected answer number")
    con = sqlite3.connect(tmp_path / "records.sqlite3")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.slow
def test_an_unreachable_records_database_at_start_up_does_not_stop_the_chat(built_settings, tmp_path: Path) -> None:
    from assistant.conversation import Assistant
    from assistant.records.lazy import ReconnectingRecords

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database folder should be")
    records = ReconnectingRecords(f"sqlite:///{blocker / 'records.sqlite3'}", retry_seconds=0)
    assert not records.connected
    bot = Assistant.load(built_settings, records=records)
    reply = bot.reply("is walking ok with sciatica?", conversation_id="c-down")
    assert reply.answer and reply.turn_id is None and bot.outbox.pending == 1
    blocker.unlink()  # the database becomes reachable
    later = bot.reply("and swimming?", conversation_id="c-down")
    assert records.connected and later.turn_id is not None and bot.outbox.pending == 0
    assert [t["user_message"] for t in records.list_turns(limit=5)] == ["and swimming?", "is walking ok with sciatica?"]
