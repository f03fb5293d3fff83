"""The durable outbox: turns that wait for the records database survive a restart and a kill -9."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.records import Records
from assistant.records.outbox import LogOutbox

ROOT = Path(__file__).resolve().parent.parent
DOWN = "postgresql+psycopg://physio@127.0.0.1:1/records"  # nothing listens on port 1: refused at once


def contract(answer: str = "An answer.", level: str = "self_care", evidence: str = "") -> dict[str, object]:
    flags = [{"id": "cauda_equina", "evidence": evidence, "level": level}] if evidence else []
    return {
        "answer": answer,
        "triage": {"level": level, "flags": flags},
        "sources": [],
        "exercises": [],
        "refused": False,
    }


class Down:
    """A records database that cannot be reached."""

    def log_turn(self, *args: object, **kwargs: object) -> int:
        raise ConnectionError("database is down")


def test_turns_waiting_for_the_database_survive_a_restart(tmp_path: Path) -> None:
    spool = tmp_path / "data" / "outbox.jsonl"
    before = LogOutbox(Down(), spool=spool)
    assert before.log("c1", "my back hurts", contract()) is None
    assert before.log("c1", "and my leg tingles", contract()) is None
    assert before.pending == 2
    del before  # the server stops (or dies) here

    records = Records(f"sqlite:///{tmp_path / 'records.sqlite3'}")
    after = LogOutbox(records, spool=spool)
    assert after.pending == 2, "the new process finds the turns the old one could not write"
    assert after.flush() and after.pending == 0
    turns = records.list_turns(limit=10)
    assert [t["user_message"] for t in turns] == ["and my leg tingles", "my back hurts"]
    assert spool.read_bytes() == b"" and not spool.with_name("outbox.jsonl.done").exists()
    assert LogOutbox(records, spool=spool).pending == 0, "nothing is written twice"


def test_a_late_turn_keeps_the_time_it_happened(tmp_path: Path) -> None:
    spool = tmp_path / "outbox.jsonl"
    LogOutbox(Down(), spool=spool).log("c1", "my back hurts", contract())
    written = json.loads(spool.read_text().splitlines()[0])["at"]
    records = Records(f"sqlite:///{tmp_path / 'records.sqlite3'}", clock=lambda: dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    LogOutbox(records, spool=spool).flush()
    assert records.list_turns()[0]["created"] == dt.datetime.fromisoformat(written)


def test_the_spool_holds_only_redacted_text_and_only_its_owner_can_read_it(tmp_path: Path) -> None:
    spool = tmp_path / "outbox.jsonl"
    outbox = LogOutbox(Down(), spool=spool)
    message = "my name is Sarah Jones, call 07700 900123, I can't feel my bum"
    outbox.log("c1", message, contract(level="emergency", evidence=message))  # evidence quotes the message
    text = spool.read_text(encoding="utf-8")
    assert "Sarah" not in text and "07700" not in text
    assert "my name is [name], call [phone], I can't feel my bum" in text
    assert spool.stat().st_mode & 0o777 == 0o600


def test_a_line_cut_short_by_a_crash_is_skipped_and_the_rest_written(tmp_path: Path) -> None:
    spool = tmp_path / "outbox.jsonl"
    LogOutbox(Down(), spool=spool).log("c1", "first", contract())
    with spool.open("ab") as f:
        f.write(b'{"conversation_id": "c1", "message": "half a li')  # the process died mid-write
    records = Records(f"sqlite:///{tmp_path / 'records.sqlite3'}")
    outbox = LogOutbox(records, spool=spool)
    assert outbox.pending == 1 and outbox.flush()
    assert [t["user_message"] for t in records.list_turns()] == ["first"]


def test_a_full_spool_drops_the_oldest_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    outbox = LogOutbox(Down(), max_pending=3, spool=tmp_path / "outbox.jsonl")
    with caplog.at_level(logging.ERROR, logger="physio.records"):
        for i in range(5):
            outbox.log("c1", f"message {i}", contract())
    assert outbox.pending == 3
    assert sum("outbox full" in r.getMessage() for r in caplog.records) == 2
    records = Records(f"sqlite:///{tmp_path / 'records.sqlite3'}")
    LogOutbox(records, spool=tmp_path / "outbox.jsonl").flush()
    assert sorted(t["user_message"] for t in records.list_turns()) == ["message 2", "message 3", "message 4"]


def test_without_a_spool_turns_wait_in_memory(tmp_path: Path) -> None:
    outbox = LogOutbox(Down())
    outbox.log("c1", "my back hurts", contract())
    assert outbox.pending == 1
    outbox.records = Records(f"sqlite:///{tmp_path / 'records.sqlite3'}")
    assert outbox.flush() and outbox.pending == 0


LOG_IN_CHILD = """
import sys, time
from assistant.records.lazy import ReconnectingRecords
from assistant.records.outbox import LogOutbox
outbox = LogOutbox(ReconnectingRecords(sys.argv[1], retry_seconds=0), spool=__import__("pathlib").Path(sys.argv[2]))
for i in range(5):
    assert outbox.log(f"c{i % 2}", f"turn {i}: my leg is numb", {"answer": "a", "triage": {"level": "routine"}}) is None
print("logged", outbox.pending, flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_kill_9_while_the_database_is_down_loses_no_turn(tmp_path: Path) -> None:
    spool = tmp_path / "data" / "outbox.jsonl"
    child = subprocess.Popen(
        [sys.executable, "-c", LOG_IN_CHILD, DOWN, str(spool)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        line = child.stdout.readline() if child.stdout else ""
        assert line.strip() == "logged 5", child.stderr.read() if child.stderr else ""
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    records = Records(f"sqlite:///{tmp_path / 'records.sqlite3'}")
    outbox = LogOutbox(records, spool=spool)
    assert outbox.pending == 5 and outbox.flush()
    assert sorted(t["user_message"] for t in records.list_turns(limit=10)) == [
        f"turn {i}: my leg is numb" for i in range(5)
    ]
