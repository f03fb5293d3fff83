"""Password hashes, session tokens and rate limiters of the web app (no server needed)."""

from __future__ import annotations

import pytest

from assistant.errors import ConfigError, InputError
from assistant.web.auth import ChatLimiter, LoginLimiter, ReviewAuth, SlidingWindow, hash_password, parse_hash, verify_password


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_hash_is_salted_scrypt_and_verifies() -> None:
    a, b = hash_password("correct horse"), hash_password("correct horse")
    assert a != b, "a fresh salt each time"
    assert a.split("$")[:4] == ["scrypt", "32768", "8", "1"]
    assert "correct horse" not in a
    assert verify_password("correct horse", a)
    assert not verify_password("correct horsf", a)
    assert not verify_password("", a)


def test_short_passwords_are_refused() -> None:
    with pytest.raises(InputError):
        hash_password("short")


@pytest.mark.parametrize("bad", ["", "plain-password", "scrypt$1$8$1$c2FsdA$aGFzaA", "bcrypt$32768$8$1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "scrypt$33554432$8$1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"])
def test_malformed_hashes_fail_loudly_and_never_verify(bad: str) -> None:
    with pytest.raises(ConfigError):
        parse_hash(bad)
    assert not verify_password("anything", bad)


def test_review_auth_without_a_hash_is_disabled_with_instructions() -> None:
    auth = ReviewAuth("physio", None)
    assert not auth.enabled
    token, message = auth.login("1.2.3.4", "physio", "")
    assert token is None
    assert "physio-assistant hash-password" in message and "PHYSIO_REVIEW_PASSWORD_HASH" in message
    assert auth.user_for(auth.issue("physio")) is None


def test_review_auth_refuses_a_malformed_hash_at_start() -> None:
    with pytest.raises(ConfigError):
        ReviewAuth("physio", "letmein")


def test_sessions_are_signed_expire_and_can_be_revoked() -> None:
    clock = Clock()
    auth = ReviewAuth("physio", hash_password("correct horse"), clock=clock)
    token, _ = auth.login("1.2.3.4", "physio", "correct horse")
    assert token and auth.user_for(token) == "physio"
    body, sig = token.split(".")
    assert auth.user_for(f"{body}.{sig[:-2]}AA") is None
    assert auth.user_for(f"{body}x.{sig}") is None
    other = ReviewAuth("physio", hash_password("another password"), clock=clock)
    assert other.user_for(token) is None, "a new password signs everybody out"
    clock.now += 9 * 3600
    assert auth.user_for(token) is None, "sessions expire"
    clock.now -= 9 * 3600
    auth.revoke(token)
    assert auth.user_for(token) is None


def test_wrong_user_name_is_refused() -> None:
    auth = ReviewAuth("physio", hash_password("correct horse"))
    assert auth.login("1.2.3.4", "admin", "correct horse")[0] is None


def test_login_limiter_locks_address_and_user_then_releases() -> None:
    clock = Clock()
    limiter = LoginLimiter(clock=clock)
    for _ in range(5):
        assert limiter.retry_after("1.2.3.4", "physio") == 0
        limiter.failed("1.2.3.4", "physio")
    assert limiter.retry_after("1.2.3.4", "physio") > 0
    assert limiter.retry_after("1.2.3.4", "PHYSIO ") > 0, "the user name is compared case-insensitively"
    assert limiter.retry_after("5.6.7.8", "physio") == 0
    clock.now += 301
    assert limiter.retry_after("1.2.3.4", "physio") == 0


def test_chat_limiter_per_visitor_and_per_address() -> None:
    clock = Clock()
    limiter = ChatLimiter(per_minute=3, address_factor=2, clock=clock)
    assert all(limiter.allow("ip", "a") for _ in range(3))
    assert not limiter.allow("ip", "a")
    assert all(limiter.allow("ip", "b") for _ in range(3))
    assert not limiter.allow("ip", "c"), "the address as a whole is capped too"
    clock.now += 61
    assert limiter.allow("ip", "a")


def test_sliding_window_memory_is_bounded() -> None:
    clock = Clock()
    window = SlidingWindow(limit=1, window=10, clock=clock, max_keys=100)
    for i in range(1000):
        window.hit(str(i))
        clock.now += 0.001
    assert len(window._events) <= 100
