"""walletbackup.retry: the policy, Retry-After parsing and the retry loop, on their own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from walletbackup.errors import BackupNotFound, StorageError
from walletbackup.retry import (
    RetriesExhausted,
    RetryPolicy,
    Transient,
    call_with_retries,
    retry_after_seconds,
)

NOW = datetime(2026, 11, 3, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("Tue, 03 Nov 2026 12:00:30 GMT", 30.0),
        ("Tue, 03 Nov 2026 11:59:00 GMT", 0.0),  # in the past: go now
    ],
)
def test_retry_after_values(header: str, seconds: float) -> None:
    assert retry_after_seconds(header, NOW) == seconds


@pytest.mark.parametrize("header", [None, "", "soon", "-5", "1.5e9", "Tue, 99 Foo 2026"])
def test_unusable_retry_after_is_ignored(header: str | None) -> None:
    assert retry_after_seconds(header, NOW) is None


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    for retry, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (9, 4.0)]:
        delays = {policy.backoff(retry) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered


def test_the_default_policy_is_bounded() -> None:
    policy = RetryPolicy()
    worst = sum(policy.max_retry_after for _ in range(policy.attempts - 1))
    assert policy.attempts == 5
    assert worst <= 240  # an outage costs minutes at most, never hours


def recording_policy(**fields: Any) -> tuple[RetryPolicy, list[float]]:
    sleeps: list[float] = []
    return RetryPolicy(sleep=sleeps.append, **fields), sleeps


def failing(times: int, problem: Exception) -> Callable[[int], str]:
    """An attempt that raises ``problem`` on its first ``times`` calls, then answers."""

    def attempt(number: int) -> str:
        if number <= times:
            raise problem
        return f"done on attempt {number}"

    return attempt


def test_a_transient_failure_is_retried_until_it_passes() -> None:
    policy, sleeps = recording_policy(attempts=3, base_delay=1.0)
    assert call_with_retries(policy, "Vault", "fetch", failing(2, Transient("HTTP 503"))) == (
        "done on attempt 3"
    )
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0
    assert 1.0 <= sleeps[1] <= 2.0


def test_running_out_of_attempts_says_what_how_often_and_why() -> None:
    policy, sleeps = recording_policy(attempts=3)
    with pytest.raises(RetriesExhausted) as raised:
        call_with_retries(policy, "Vault", "fetch the key", failing(9, Transient("HTTP 503")))
    error = raised.value
    assert isinstance(error, StorageError)
    assert str(error) == "Vault could not fetch the key: HTTP 503 (3 attempts); try again later"
    assert (error.service, error.action, error.detail, error.attempts) == (
        "Vault",
        "fetch the key",
        "HTTP 503",
        3,
    )
    assert error.__cause__ is None  # a client library's exception may quote a response
    assert len(sleeps) == 2


def test_one_attempt_is_said_in_the_singular() -> None:
    policy, _ = recording_policy(attempts=1)
    with pytest.raises(RetriesExhausted, match=r"\(1 attempt\); try again later"):
        call_with_retries(policy, "Vault", "fetch", failing(1, Transient("HTTP 500")))


def test_retry_after_is_waited_and_a_long_one_ends_the_retries() -> None:
    policy, sleeps = recording_policy(attempts=5, max_retry_after=60)
    call_with_retries(policy, "Vault", "fetch", failing(1, Transient("HTTP 429", 7.0)))
    assert sleeps == [7.0]
    with pytest.raises(RetriesExhausted, match="HTTP 429, and asks to wait 3600 s"):
        call_with_retries(policy, "Vault", "fetch", failing(1, Transient("HTTP 429", 3600.0)))
    assert sleeps == [7.0]


def test_the_classifier_picks_what_is_transient() -> None:
    policy, sleeps = recording_policy(attempts=2)

    def transient(exc: Exception) -> Transient | None:
        return Transient("timed out") if isinstance(exc, TimeoutError) else None

    assert call_with_retries(
        policy, "Vault", "fetch", failing(1, TimeoutError()), transient=transient
    ).endswith("2")
    with pytest.raises(KeyError):
        call_with_retries(policy, "Vault", "fetch", failing(1, KeyError("x")), transient=transient)
    assert len(sleeps) == 1


def test_walletbackup_errors_are_final() -> None:
    policy, sleeps = recording_policy(attempts=5)
    with pytest.raises(BackupNotFound):
        call_with_retries(
            policy,
            "Vault",
            "fetch",
            failing(1, BackupNotFound("gone")),
            transient=lambda exc: Transient("anything"),
        )
    assert sleeps == []
