"""Clinician login: scrypt password hashes and signed session cookies (the rate limits are in `ratelimit.py`).

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
from collections.abc import Callable
from dataclasses import dataclass

from assistant.errors import ConfigError, InputError
from assistant.private_files import read_or_create_secret
from assistant.settings import Settings
from assistant.web.ratelimit import LoginLimiter

# scrypt cost: ~50 ms and 32 MB per check on a small server; stored in the hash so it can grow later
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_MAX_N = 2**20  # refuse absurd parameters from a tampered setting rather than exhaust memory
_DKLEN = 32

SESSION_COOKIE = "physio_review"
SESSION_SECONDS = 8 * 3600
MAX_TOKEN_CHARS = 512  # a real token is about 150; anything longer is refused before any work
CONCURRENT_CHECKS = 2  # password checks at once (each takes ~32 MB and a core for ~50-200 ms)
CHECK_WAIT_SECONDS = 3.0  # a login waiting longer for its turn is told to try again (threads are shared with the chat)

TOO_MANY = "Too many failed attempts."
BUSY = "The sign-in service is busy."

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
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r * p + 2**20, dklen=_DKLEN
    )


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
        raise ConfigError(
            "PHYSIO_REVIEW_PASSWORD_HASH: unsupported scheme or scrypt cost; make a new one with `physio-assistant "
            "hash-password`."
        )
    if not (1 <= parsed.r <= 32 and 1 <= parsed.p <= 16 and len(parsed.salt) >= 8 and len(parsed.digest) >= 16):
        raise ConfigError(
            "PHYSIO_REVIEW_PASSWORD_HASH: parameters out of range; make a new one with `physio-assistant "
            "hash-password`."
        )
    return parsed


def verify_password(password: str, encoded: str) -> bool:
    """True when `password` matches the stored hash (constant-time comparison); False for a malformed hash."""
    try:
        h = parse_hash(encoded)
    except ConfigError:
        return False
    candidate = hashlib.scrypt(
        password.encode("utf-8"),
        salt=h.salt,
        n=h.n,
        r=h.r,
        p=h.p,
        maxmem=256 * h.n * h.r * h.p + 2**20,
        dklen=len(h.digest),
    )
    return hmac.compare_digest(candidate, h.digest)


# ---- the review login --------------------------------------------------------------------------


class ReviewAuth:
    """The review page's gate: credentials from settings, signed session tokens, login throttling.

    Session tokens are HMAC-signed with a key derived from the session secret (PHYSIO_SECRET_KEY,
    or the random key kept in the data folder) *and* the stored password hash: whoever reads the
    hash alone cannot sign a token, every replica given the same secret accepts the same tokens,
    and changing either the password or the secret signs everybody out.

    Without `secret`, a random key is made for this instance (sessions end when the process does).
    """

    def __init__(
        self,
        user: str,
        password_hash: str | None,
        *,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.user = user
        self.password_hash = "".join(password_hash.split()) if password_hash else None
        if self.password_hash:
            parse_hash(self.password_hash)  # fail at start-up, not at the first login
        if secret is not None and len(secret) < 16:
            raise ConfigError("The session secret is too short; use at least 32 random characters.")
        self.limiter = LoginLimiter()
        self._clock = clock
        self._key = session_key(secret if secret is not None else secrets.token_bytes(32), self.password_hash or "")
        self._revoked: dict[str, float] = {}  # signature of a signed-out token -> when it would have expired
        self._lock = threading.Lock()
        self._checks = threading.BoundedSemaphore(CONCURRENT_CHECKS)

    @property
    def enabled(self) -> bool:
        return bool(self.password_hash)

    def login(self, address: str, user: str, password: str) -> tuple[str | None, str]:
        """(token, "") on success, else (None, message for the login page)."""
        if not self.enabled:
            return None, HOW_TO_ENABLE
        wait = self.limiter.begin(address, user)
        if wait > 0:
            minutes = max(1, round(wait / 60))
            return None, f"{TOO_MANY} Please wait {minutes} minute{'s' if minutes != 1 else ''} and try again."
        assert self.password_hash is not None
        if not self._checks.acquire(timeout=CHECK_WAIT_SECONDS):
            self.limiter.cancel(address, user)  # not checked: it does not count, and forgives nothing
            return None, f"{BUSY} Please try again in a moment."
        try:
            # always run the hash, so a wrong user name takes as long as a wrong password
            good_password = verify_password(password, self.password_hash)
        finally:
            self._checks.release()
        good_user = hmac.compare_digest(user.strip().encode(), self.user.encode())
        if not (good_password and good_user):
            return None, "That user name and password do not match. Please try again."
        self.limiter.succeeded(address, user)
        return self.issue(self.user), ""

    def issue(self, user: str) -> str:
        body = _b64(
            json.dumps({"u": user, "exp": int(self._clock()) + SESSION_SECONDS, "n": secrets.token_hex(8)}).encode()
        )
        return f"{body}.{self._sign(body)}"

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def _verified(self, token: str | None) -> tuple[str, int] | None:
        """(signature, expiry) of a token this server signed and that has not expired; None for anything else."""
        if (
            not self.enabled
            or not token
            or len(token) > MAX_TOKEN_CHARS
            or token.count(".") != 1
            or not token.isascii()
        ):
            return None  # (compare_digest raises on non-ASCII text: a crafted cookie must be a 401, not a 500)
        body, signature = token.split(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            data = json.loads(_unb64(body))
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("u") != self.user:
            return None
        try:
            expires = int(data.get("exp", 0))
        except (TypeError, ValueError):
            return None
        if expires < self._clock():
            return None
        return signature, expires

    def user_for(self, token: str | None) -> str | None:
        """The signed-in user for a session token, or None."""
        verified = self._verified(token)
        if verified is None:
            return None
        with self._lock:
            if verified[0] in self._revoked:
                return None
        return self.user

    def revoke(self, token: str | None) -> None:
        """Sign out: this token stops working on this server at once (it expires everywhere within 8 hours).

        Only a token this server signed is remembered (by its signature, until it would have expired):
        a junk cookie sent to /review/logout costs nothing to keep.
        """
        verified = self._verified(token)
        if verified is None:
            return
        signature, expires = verified
        now = self._clock()
        with self._lock:
            self._revoked = {s: exp for s, exp in self._revoked.items() if exp > now}
            self._revoked[signature] = expires


def session_secret(settings: Settings) -> bytes:
    """PHYSIO_SECRET_KEY, else the random key kept in the data folder (made on first use, mode 0600)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode("utf-8")
    return read_or_create_secret(settings.secret_key_path)


def session_key(secret: bytes, password_hash: str) -> bytes:
    """The HMAC key for session tokens: from the secret and the password hash together."""
    return hmac.new(secret, b"physio-review-session\0" + password_hash.encode(), hashlib.sha256).digest()
