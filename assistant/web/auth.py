"""Clinician login: scrypt password hashes, signed session cookies, and small in-memory rate limiters.

>>> encoded = hash_password("correct horse")
>>> encoded.startswith("scrypt$")
True
>>> verify_password("correct horse", encoded), verify_password("wrong", encoded)
(True, False)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from assistant.errors import ConfigError, InputError

# scrypt cost: ~50 ms and 32 MB per check on a small server; stored in the hash so it can grow later
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_MAX_N = 2**20  # refuse absurd parameters from a tampered setting rather than exhaust memory
_DKLEN = 32

SESSION_COOKIE = "physio_review"
SESSION_SECONDS = 8 * 3600

HOW_TO_ENABLE = (
    "The clinician review page is switched off because no review password is set. "
    "To switch it on, run `physio-assistant hash-password`, then set the printed value as "
    "PHYSIO_REVIEW_PASSWORD_HASH (and optionally PHYSIO_REVIEW_USER, default `physio`) and restart the server."
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r * p + 2**20, dklen=_DKLEN)


def hash_password(password: str) -> str:
    """A salted scrypt hash, `scrypt$n$r$p$salt$hash`, for PHYSIO_REVIEW_PASSWORD_HASH."""
    if len(password) < 8:
        raise InputError("Choose a password of at least 8 characters.")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


@dataclass(frozen=True)
class ParsedHash:
    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


def parse_hash(encoded: str) -> ParsedHash:
    """Check the stored hash's shape; `ConfigError` says how to make a good one."""
    try:
        # whitespace cannot be part of the hash: ignore it (a terminal may have wrapped a copied value)
        scheme, n, r, p, salt, digest = "".join(encoded.split()).split("$")
        parsed = ParsedHash(int(n), int(r), int(p), _unb64(salt), _unb64(digest))
    except ValueError as exc:
        raise ConfigError(
            "PHYSIO_REVIEW_PASSWORD_HASH is not a hash made by `physio-assistant hash-password` "
            "(expected scrypt$n$r$p$salt$hash)."
        ) from exc
    if scheme != "scrypt" or not (2 <= parsed.n <= _MAX_N and parsed.n & (parsed.n - 1) == 0):
        raise ConfigError("PHYSIO_REVIEW_PASSWORD_HASH: unsupported scheme or scrypt cost; make a new one with `physio-assistant hash-password`.")
    if not (1 <= parsed.r <= 32 and 1 <= parsed.p <= 16 and len(parsed.salt) >= 8 and len(parsed.digest) >= 16):
        raise ConfigError("PHYSIO_REVIEW_PASSWORD_HASH: parameters out of range; make a new one with `physio-assistant hash-password`.")
    return parsed


def verify_password(password: str, encoded: str) -> bool:
    """True when `password` matches the stored hash (constant-time comparison); False for a malformed hash."""
    try:
        h = parse_hash(encoded)
    except ConfigError:
        return False
    candidate = hashlib.scrypt(
        password.encode("utf-8"), salt=h.salt, n=h.n, r=h.r, p=h.p, maxmem=256 * h.n * h.r * h.p + 2**20, dklen=len(h.digest)
    )
    return hmac.compare_digest(candidate, h.digest)


# ---- rate limiting ---------------------------------------------------------------------------


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

    def reset(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)


class LoginLimiter:
    """5 failed logins per 5 minutes for one address and user name (and 20 per address), then a pause."""

    def __init__(self, per_user: int = 5, per_address: int = 20, window: float = 300.0, clock: Callable[[], float] = time.monotonic):
        self.user = SlidingWindow(per_user, window, clock)
        self.address = SlidingWindow(per_address, window, clock)

    @staticmethod
    def _key(address: str, user: str) -> str:
        return f"{address}\0{user.strip().lower()}"

    def retry_after(self, address: str, user: str) -> float:
        return max(self.user.retry_after(self._key(address, user)), self.address.retry_after(address))

    def failed(self, address: str, user: str) -> None:
        self.user.hit(self._key(address, user))
        self.address.hit(address)

    def succeeded(self, address: str, user: str) -> None:
        self.user.reset(self._key(address, user))


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


# ---- the review login --------------------------------------------------------------------------


class ReviewAuth:
    """The review page's gate: credentials from settings, signed session tokens, login throttling.

    Session tokens are HMAC-signed with a key derived from the stored password hash, so every
    replica accepts them and changing the password signs everybody out.
    """

    def __init__(self, user: str, password_hash: str | None, *, clock: Callable[[], float] = time.time):
        self.user = user
        self.password_hash = "".join(password_hash.split()) if password_hash else None
        if self.password_hash:
            parse_hash(self.password_hash)  # fail at start-up, not at the first login
        self.limiter = LoginLimiter()
        self._clock = clock
        self._key = hashlib.sha256(b"physio-review-session\0" + (self.password_hash or "").encode()).digest()
        self._revoked: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self.password_hash)

    def login(self, address: str, user: str, password: str) -> tuple[str | None, str]:
        """(token, "") on success, else (None, message for the login page)."""
        if not self.enabled:
            return None, HOW_TO_ENABLE
        wait = self.limiter.retry_after(address, user)
        if wait > 0:
            minutes = max(1, round(wait / 60))
            return None, f"Too many failed attempts. Please wait {minutes} minute{'s' if minutes != 1 else ''} and try again."
        assert self.password_hash is not None
        # always run the hash, so a wrong user name takes as long as a wrong password
        good_password = verify_password(password, self.password_hash)
        good_user = hmac.compare_digest(user.strip().encode(), self.user.encode())
        if not (good_password and good_user):
            self.limiter.failed(address, user)
            return None, "That user name and password do not match. Please try again."
        self.limiter.succeeded(address, user)
        return self.issue(self.user), ""

    def issue(self, user: str) -> str:
        body = _b64(json.dumps({"u": user, "exp": int(self._clock()) + SESSION_SECONDS, "n": secrets.token_hex(8)}).encode())
        return f"{body}.{self._sign(body)}"

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def user_for(self, token: str | None) -> str | None:
        """The signed-in user for a session token, or None."""
        if not self.enabled or not token or token.count(".") != 1:
            return None
        body, signature = token.split(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        with self._lock:
            if token in self._revoked:
                return None
        try:
            data = json.loads(_unb64(body))
        except ValueError:
            return None
        if not isinstance(data, dict) or int(data.get("exp", 0)) < self._clock() or data.get("u") != self.user:
            return None
        return str(data["u"])

    def revoke(self, token: str | None) -> None:
        """Sign out: this token stops working on this server at once (it expires everywhere within 8 hours)."""
        if not token:
            return
        now = self._clock()
        with self._lock:
            self._revoked = {t: exp for t, exp in self._revoked.items() if exp > now}
            self._revoked[token] = now + SESSION_SECONDS
