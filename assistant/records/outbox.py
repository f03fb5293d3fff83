"""The conversation log must never stop the chat: failed writes wait here and are retried.

A locked, full or unreachable records database costs a warning, not an answer. Pending turns are
kept in memory (bounded), written in order once the database answers again.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

log = logging.getLogger("physio.records")


class LogOutbox:
    """Wraps `Records.log_turn` with a retry queue; `pending` says how much is still unwritten."""

    def __init__(self, records: Any, max_pending: int = 1000) -> None:
        self.records = records
        self._pending: deque[tuple[str, str, dict[str, Any], str | None]] = deque(maxlen=max_pending)
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def log(self, conversation_id: str, message: str, reply: dict[str, Any], client_id: str | None = None) -> int | None:
        """Write this turn (after any waiting ones); on failure keep it for later and return None."""
        with self._lock:
            if not self.flush():
                self._keep(conversation_id, message, reply, client_id)
                return None
            try:
                return int(self.records.log_turn(conversation_id, message, reply, client_id=client_id))
            except Exception as exc:  # noqa: BLE001 - any database fault degrades to a retry
                log.warning("records database unavailable (%s); turn kept for retry", type(exc).__name__)
                self._keep(conversation_id, message, reply, client_id)
                return None

    def flush(self) -> bool:
        """Write waiting turns in order; True when nothing is left waiting."""
        while self._pending:
            conversation_id, message, reply, client_id = self._pending[0]
            try:
                self.records.log_turn(conversation_id, message, reply, client_id=client_id)
            except Exception as exc:  # noqa: BLE001
                log.warning("records database still unavailable (%s); %d turn(s) waiting", type(exc).__name__, len(self._pending))
                return False
            self._pending.popleft()
        return True

    def _keep(self, *item: Any) -> None:
        if len(self._pending) == self._pending.maxlen:
            log.error("records outbox full: the oldest waiting turn is dropped")
        self._pending.append(item)  # type: ignore[arg-type]
