"""Open the records database when it can be reached, not only at start-up.

If PostgreSQL is down when the server starts, the chat must still start and answer; the log
outbox keeps turns until the database answers, and this proxy reconnects on a later call.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

from assistant.records.errors import RecordsError
from assistant.records.store import Records

log = logging.getLogger("physio.records")


class ReconnectingRecords:
    """Behaves like `Records`; until a connection succeeds every call raises `RecordsError`."""

    def __init__(self, url: str, retry_seconds: float = 10.0) -> None:
        self.url = url
        self._retry = retry_seconds
        self._records: Records | None = None
        self._next_try = 0.0
        self._lock = threading.Lock()
        with contextlib.suppress(RecordsError, OSError):  # logged; the chat starts, a later call retries
            self._connect(first=True)

    @property
    def connected(self) -> bool:
        return self._records is not None

    def _connect(self, first: bool = False) -> Records:
        with self._lock:
            if self._records is not None:
                return self._records
            if not first and time.monotonic() < self._next_try:
                raise RecordsError("The records database is unavailable; retrying shortly. Check PHYSIO_DATABASE_URL.")
            try:
                self._records = Records(self.url)
                return self._records
            except (RecordsError, OSError) as exc:
                self._next_try = time.monotonic() + self._retry
                log.warning("records database unavailable; the chat keeps answering and logs later: %s", exc)
                raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connect(), name)
