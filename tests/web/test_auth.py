"""Password hashes, session tokens and rate limiters of the web app (no server needed)."""

from __future__ import annotations

import threading
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import pytest

from assistant.errors import ConfigError, InputError
from assistant.web.auth import ReviewAuth, hash_password, parse_hash, verify_password
from assistant.web.ratelimit import ChatLimiter, LoginLimiter, SlidingWindow


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


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "plain-password",
        "scrypt$1$8$1$c2FsdA$aGFzaA",
        "bcrypt$32768$8$1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "scrypt$33554432$8$1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    ],
)
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
    secret = b"s" * 32
    auth = ReviewAuth("physio", hash_password("correct horse"), secret=secret, clock=clock)
    token, _ = auth.login("1.2.3.4", "physio", "correct horse")
    assert token and auth.user_for(token) == "physio"
    body, sig = token.split(".")
    assert auth.user_for(f"{body}.{sig[:-2]}AA") is None
    assert auth.user_for(f"{body}x.{sig}") is None
    assert ReviewAuth("physio", auth.password_hash, secret=secret, clock=clock).user_for(token) == "physio", (
        "same secret, same hash: still valid"
    )
    other = ReviewAuth("physio", hash_password("another password"), secret=secret, clock=clock)
    assert other.user_for(token) is None, "a new password signs everybody out"
    rekeyed = ReviewAuth("physio", auth.password_hash, secret=b"t" * 32, clock=clock)
    assert rekeyed.user_for(token) is None, "a new secret signs everybody out"
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


def test_logging_out_a_junk_cookie_remembers_nothing() -> None:
    """/review/logout is open to anyone: only a token this server signed may be kept in the revoked list."""
    auth = ReviewAuth("physio", hash_password("correct horse"))
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(1000):
        auth.revoke(f"{i:06d}" + "x" * 100_000)
        auth.revoke(f"{i}.{'y' * 300}")
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert auth._revoked == {}
    assert grown < 1_000_000, f"{grown} bytes kept after 2,000 junk logouts"
    token, _ = auth.login("1.2.3.4", "physio", "correct horse")
    auth.revoke(token)
    assert auth.user_for(token) is None and len(auth._revoked) == 1


def test_an_expired_token_is_not_kept_when_revoked() -> None:
    clock = Clock()
    auth = ReviewAuth("physio", hash_password("correct horse"), clock=clock)
    token = auth.issue("physio")
    clock.now += 9 * 3600
    auth.revoke(token)
    assert auth._revoked == {}


@pytest.mark.slow  # seconds: threads racing, scrypt checks or app start-ups
def test_simultaneous_wrong_passwords_meet_the_limit_like_consecutive_ones() -> None:
    """The limit is taken before the (slow) hash: 20 guesses at once are not all checked against a limit of 5."""
    auth = ReviewAuth("physio", hash_password("correct horse"))
    start = threading.Barrier(20)

    def guess(i: int) -> str:
        start.wait()
        return auth.login("192.0.2.7", "physio", f"guess-{i}")[1]

    with ThreadPoolExecutor(max_workers=20) as pool:
        messages = list(pool.map(guess, range(20)))
    checked = [m for m in messages if "do not match" in m]
    assert len(checked) <= 5, f"{len(checked)} passwords were checked"
    assert (
        len(checked) + sum("Too many failed attempts" in m for m in messages) + sum("busy" in m for m in messages) == 20
    )


@pytest.mark.slow  # seconds: threads racing, scrypt checks or app start-ups
def test_password_checks_run_two_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each scrypt check takes ~32 MB: a burst of logins from many addresses must not take them all at once."""
    import assistant.web.auth as auth_module

    running, peak, lock = 0, 0, threading.Lock()
    real = auth_module.verify_password

    def counting(password: str, encoded: str) -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            return real(password, encoded)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(auth_module, "verify_password", counting)
    auth = ReviewAuth("physio", hash_password("correct horse"))
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: auth.login(f"192.0.2.{i}", "physio", "wrong"), range(8)))
    assert peak <= auth_module.CONCURRENT_CHECKS


@pytest.mark.slow  # seconds: threads racing, scrypt checks or app start-ups
def test_a_successful_login_does_not_count_as_a_failure() -> None:
    auth = ReviewAuth("physio", hash_password("correct horse"))
    for _ in range(21):  # one more than the address may fail in the window
        token, message = auth.login("192.0.2.8", "physio", "correct horse")
        assert token, message


@pytest.mark.slow  # seconds: threads racing, scrypt checks or app start-ups
def test_a_login_turned_away_while_busy_neither_counts_nor_forgives(monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.web.auth as auth_module

    monkeypatch.setattr(auth_module, "CHECK_WAIT_SECONDS", 0.05)
    auth = ReviewAuth("physio", hash_password("correct horse"))
    for _ in range(4):
        auth.login("192.0.2.9", "physio", "wrong")
    for _ in range(auth_module.CONCURRENT_CHECKS):  # every check slot taken by other logins
        auth._checks.acquire()
    try:
        for _ in range(3):
            assert "busy" in auth.login("192.0.2.9", "physio", "wrong")[1]
    finally:
        for _ in range(auth_module.CONCURRENT_CHECKS):
            auth._checks.release()
    assert "do not match" in auth.login("192.0.2.9", "physio", "wrong")[1], "the busy attempts did not count"
    assert "Too many failed attempts" in auth.login("192.0.2.9", "physio", "correct horse")[1], (
        "nor did they forgive the four before"
    )


@pytest.mark.parametrize("junk", ["é.é", "a.\u00ff", "\u2603.x", "x" * 600 + ".y", "..", ".", "a.b.c"])
def test_any_cookie_text_is_refused_quietly(junk: str) -> None:
    auth = ReviewAuth("physio", hash_password("correct horse"))
    assert auth.user_for(junk) is None
    auth.revoke(junk)
    assert auth._revoked == {}
