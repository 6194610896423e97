"""RetryPolicy and Retry-After parsing, on their own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from walletbackup_gdrive.retry import RetryPolicy, retry_after_seconds

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
    assert worst <= 240  # a Drive outage costs minutes at most, never hours
