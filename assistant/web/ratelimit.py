"""In-memory rate limits of the web app: chat messages per visitor and address, failed logins.

The login limit is taken *before* the password is checked: an attempt holds its place in the
window while the (slow, by design) scrypt check runs, so twenty simultaneous guesses meet the same
limit as twenty guesses in a row.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class SlidingWindow:
    """At most `limit` events per `window` seconds for each key; thread-safe, memory bounded."""

    limit: int
    window: float
    clock: Callable[[], float] = time.monotonic
    max_keys: int = 50_000
    _events: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _prune(self, key: str, now: float) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            if len(self._events) >= self.max_keys:
                self._sweep(now)
            events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window:
            events.popleft()
        return events

    def _sweep(self, now: float) -> None:
        for k in [k for k, ev in self._events.items() if not ev or ev[-1] <= now - self.window]:
            del self._events[k]
        while len(self._events) >= self.max_keys:  # still full: forget the oldest keys
            del self._events[next(iter(self._events))]

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may act again (0 when it may act now)."""
        with self._lock:
            now = self.clock()
            events = self._prune(key, now)
            return 0.0 if len(events) < self.limit else max(0.0, events[0] + self.window - now)

    def hit(self, key: str) -> None:
        with self._lock:
            now = self.clock()
            self._prune(key, now).append(now)

    def allow(self, key: str) -> bool:
        """Record an event and say whether it was within the limit."""
        with self._lock:
            now = self.clock()
            events = self._prune(key, now)
            if len(events) >= self.limit:
                return False
            events.append(now)
            return True

    def forget_one(self, key: str) -> None:
        """Take back the newest event of `key` (an attempt that turned out not to count)."""
        with self._lock:
            events = self._events.get(key)
            if events:
                events.pop()

    def reset(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)


class LoginLimiter:
    """5 failed logins per 5 minutes for one address and user name (and 20 per address), then a pause.

    `begin` counts an attempt as failed until `succeeded` says otherwise, in one step with the
    check, so concurrent attempts cannot all pass the check before any of them is counted.
    """

    def __init__(
        self,
        per_user: int = 5,
        per_address: int = 20,
        window: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.user = SlidingWindow(per_user, window, clock)
        self.address = SlidingWindow(per_address, window, clock)
        self._lock = threading.Lock()

    @staticmethod
    def _key(address: str, user: str) -> str:
        return f"{address}\0{user.strip().lower()}"

    def retry_after(self, address: str, user: str) -> float:
        return max(self.user.retry_after(self._key(address, user)), self.address.retry_after(address))

    def begin(self, address: str, user: str) -> float:
        """Reserve one attempt: 0.0 when it may go ahead (counted as failed for now), else seconds to wait."""
        with self._lock:
            wait = self.retry_after(address, user)
            if wait > 0:
                return wait
            self.user.hit(self._key(address, user))
            self.address.hit(address)
            return 0.0

    def failed(self, address: str, user: str) -> None:
        """Count a failed attempt that did not go through `begin`."""
        with self._lock:
            self.user.hit(self._key(address, user))
            self.address.hit(address)

    def cancel(self, address: str, user: str) -> None:
        """The attempt reserved by `begin` was never made (the server was busy): it does not count."""
        with self._lock:
            self.user.forget_one(self._key(address, user))
            self.address.forget_one(address)

    def succeeded(self, address: str, user: str) -> None:
        """The attempt reserved by `begin` was right: it no longer counts, and the user's failures are forgiven."""
        with self._lock:
            self.user.reset(self._key(address, user))
            self.address.forget_one(address)


class ChatLimiter:
    """`per_minute` messages for one visitor (browser session), and a wider cap per address."""

    def __init__(self, per_minute: int, address_factor: int = 20, clock: Callable[[], float] = time.monotonic):
        self.visitor = SlidingWindow(max(1, per_minute), 60.0, clock)
        self.address = SlidingWindow(max(1, per_minute * address_factor), 60.0, clock)

    def allow(self, address: str, session: str) -> bool:
        if self.address.retry_after(address) > 0:
            return False
        if not self.visitor.allow(f"{address}\0{session}"):
            return False
        self.address.hit(address)
        return True
