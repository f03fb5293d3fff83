"""The conversation log must never stop the chat: failed writes wait here and are retried.

A locked, full or unreachable records database costs a warning, not an answer. Waiting turns are
written in order once the database answers again.

With a `spool` file (the server uses `PHYSIO_DATA_DIR/outbox.jsonl`), waiting turns are kept on
disk, one JSON object a line, mode 0600, the message already redacted: a restart, a crash or a
`kill -9` while the database is down loses none of them, and the next server to start writes them.
A second file (`outbox.jsonl.done`) records how far the log has got, so a crash in the middle of
writing them repeats at most the one turn that was being written. Without a spool they wait in
memory (bounded), as before.

>>> outbox = LogOutbox(records=None)  # no database at all: the turn waits
>>> outbox.log("c1", "my back hurts", {"answer": "..."}) is None, outbox.pending
(True, 1)
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock

from assistant.guardrails.redact import redact
from assistant.private_files import private_file
from assistant.seams import RecordsPort

log = logging.getLogger("physio.records")

Item = dict[str, Any]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LogOutbox:
    """Wraps `Records.log_turn` with a retry queue; `pending` says how much is still unwritten."""

    def __init__(self, records: RecordsPort | None, max_pending: int = 1000, *, spool: Path | None = None) -> None:
        self.records = records
        self.max_pending = max_pending
        self._queue: _MemoryQueue | _SpoolQueue = _SpoolQueue(spool) if spool is not None else _MemoryQueue()
        self._lock = threading.Lock()
        self._stop = threading.Event()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def log(
        self, conversation_id: str, message: str, reply: dict[str, Any], client_id: str | None = None
    ) -> int | None:
        """Write this turn (after any waiting ones); on failure keep it for later and return None."""
        at = _now()
        with self._lock:
            if not self._flush():
                self._keep(_item(conversation_id, message, reply, client_id, at))
                return None
            try:
                return int(self._write(conversation_id, message, reply, client_id, at))
            except Exception as exc:  # noqa: BLE001 - any database fault degrades to a retry
                log.warning("records database unavailable (%s); turn kept for retry", type(exc).__name__)
                self._keep(_item(conversation_id, message, reply, client_id, at))
                return None

    def flush(self) -> bool:
        """Write waiting turns in order; True when nothing is left waiting."""
        with self._lock:
            return self._flush()

    def start_flusher(self, every: float = 30.0) -> threading.Thread:
        """Retry in the background, so waiting turns are written even if no one chats for a while."""

        def loop() -> None:
            while not self._stop.wait(every):
                if self.pending:
                    self.flush()

        thread = threading.Thread(target=loop, name="records-outbox", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    # ---- inside the lock ----------------------------------------------------------------------
    def _write(
        self, conversation_id: str, message: str, reply: dict[str, Any], client_id: str | None, at: dt.datetime | None
    ) -> int:
        if self.records is None:
            raise ConnectionError("no records database")
        return int(self.records.log_turn(conversation_id, message, reply, client_id=client_id, at=at))

    def _flush(self) -> bool:
        def write(item: Item) -> None:
            at = dt.datetime.fromisoformat(item["at"]) if item.get("at") else None
            self._write(item["conversation_id"], item["message"], item["reply"], item.get("client_id"), at)

        try:
            return self._queue.drain(write)
        except Exception as exc:  # noqa: BLE001 - whatever failed, the turns wait for the next try
            log.warning(
                "records database still unavailable (%s); %d turn(s) waiting", type(exc).__name__, len(self._queue)
            )
            return False

    def _keep(self, item: Item) -> None:
        if len(self._queue) >= self.max_pending:
            self._queue.make_room()
            log.error("records outbox full: the oldest waiting turn is dropped")
        self._queue.push(item)


def _item(conversation_id: str, message: str, reply: dict[str, Any], client_id: str | None, at: dt.datetime) -> Item:
    """What waits: the message redacted (it may sit on disk), flag evidence too (it quotes the message)."""
    reply = json.loads(json.dumps(reply, default=str))
    triage = reply.get("triage") if isinstance(reply, dict) else None
    if isinstance(triage, dict):
        triage["flags"] = [
            {**flag, "evidence": redact(str(flag.get("evidence", "")))} if isinstance(flag, dict) else flag
            for flag in triage.get("flags") or []
        ]
    return {
        "conversation_id": conversation_id,
        "message": redact(message),
        "reply": reply,
        "client_id": client_id,
        "at": at.isoformat(),
    }


class _MemoryQueue:
    def __init__(self) -> None:
        self._items: deque[Item] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def push(self, item: Item) -> None:
        self._items.append(item)

    def make_room(self) -> None:
        self._items.popleft()

    def drain(self, write: Any) -> bool:
        while self._items:
            write(self._items[0])  # raises when the database is still away
            self._items.popleft()
        return True


class _SpoolQueue:
    """A queue in a JSON-lines file; `<spool>.done` holds the byte offset of the first unwritten line.

    Writing stops at the first turn the database refuses, so a long outage costs one line read per
    retry, not the whole file. A file lock makes two processes that share a data folder take turns.
    """

    def __init__(self, path: Path) -> None:
        self.path = private_file(path)
        self.done = path.with_name(path.name + ".done")
        self._lock = FileLock(str(path.with_name(path.name + ".lock")))
        with self._lock:
            self._count = sum(1 for _ in self._lines())
        if self._count:
            log.warning("%d turn(s) from before the restart are waiting for the records database", self._count)

    def __len__(self) -> int:
        return self._count

    def _offset(self) -> int:
        try:
            offset = int(self.done.read_text(encoding="ascii").strip() or 0)
        except (OSError, ValueError):
            return 0
        return offset if offset <= self.path.stat().st_size else 0  # the spool was replaced: take it whole

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        """Unwritten whole lines, each with the offset just after it; a line cut by a crash mid-write is not a turn."""
        pos = self._offset()
        with self.path.open("rb") as spool:
            spool.seek(pos)
            for raw in spool:
                pos += len(raw)
                if not raw.endswith(b"\n"):
                    return
                if raw.strip():
                    yield pos, raw

    def _mark(self, offset: int) -> None:
        tmp = self.done.with_name(self.done.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(str(offset))
        os.replace(tmp, self.done)

    def _reset(self) -> None:
        """Everything is written: start both files afresh."""
        fd = os.open(self.path, os.O_WRONLY | os.O_TRUNC)
        os.close(fd)
        self.done.unlink(missing_ok=True)
        self._count = 0

    def push(self, item: Item) -> None:
        line = (json.dumps(item, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            self._count += 1

    def make_room(self) -> None:
        with self._lock:
            for end, _ in self._lines():
                self._mark(end)
                self._count = max(0, self._count - 1)
                return

    def drain(self, write: Any) -> bool:
        with self._lock:
            for end, raw in self._lines():
                try:
                    item = json.loads(raw)
                except ValueError:
                    log.error("records outbox: an unreadable line was skipped")
                else:
                    write(item)  # raises when the database is still away: this line and the rest wait
                self._mark(end)
                self._count = max(0, self._count - 1)
            self._reset()
            return True
