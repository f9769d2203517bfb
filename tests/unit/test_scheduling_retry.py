"""Retry backoff: exponential, capped, jitter bounded and reproducible with an injected RNG."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.scheduling import JITTER_RATIO, RetryPolicy, next_retry_at, retry_delay

POLICY = RetryPolicy(max_retries=5, backoff_seconds=10, max_backoff_seconds=60)


def no_jitter() -> float:
    return 0.0


def test_delays_double_up_to_the_cap() -> None:
    delays = [retry_delay(n, POLICY, no_jitter).total_seconds() for n in range(1, 7)]
    assert delays == [10, 20, 40, 60, 60, 60]


def test_jitter_only_shortens_and_by_at_most_the_ratio() -> None:
    almost_one = 1.0 - 1e-12
    for n in range(1, 7):
        full = retry_delay(n, POLICY, no_jitter)
        shortest = retry_delay(n, POLICY, lambda: almost_one)
        assert full * (1 - JITTER_RATIO) <= shortest < full
    rng = random.Random(3)
    for _ in range(1000):
        n = rng.randint(1, 8)
        full = retry_delay(n, POLICY, no_jitter)
        assert full * (1 - JITTER_RATIO) <= retry_delay(n, POLICY, rng.random) <= full


def test_same_seed_same_delays() -> None:
    first = [retry_delay(n, POLICY, random.Random(7).random) for n in range(1, 6)]
    second = [retry_delay(n, POLICY, random.Random(7).random) for n in range(1, 6)]
    other = [retry_delay(n, POLICY, random.Random(8).random) for n in range(1, 6)]
    assert first == second
    assert first != other


def test_huge_retry_numbers_stay_at_the_cap() -> None:
    assert retry_delay(10_000, POLICY, no_jitter) == timedelta(seconds=60)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        retry_delay(0, POLICY, no_jitter)
    with pytest.raises(ValueError):
        retry_delay(1, POLICY, lambda: 1.0)
    with pytest.raises(ValueError):
        retry_delay(1, POLICY, lambda: -0.1)
    with pytest.raises(ValueError):
        next_retry_at(0, datetime(2024, 1, 1, tzinfo=UTC), POLICY, no_jitter)


def test_next_retry_at_until_the_retries_are_used() -> None:
    failed = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    policy = RetryPolicy(max_retries=2, backoff_seconds=30, max_backoff_seconds=3600)
    assert next_retry_at(1, failed, policy, no_jitter) == failed + timedelta(seconds=30)
    assert next_retry_at(2, failed, policy, no_jitter) == failed + timedelta(seconds=60)
    assert next_retry_at(3, failed, policy, no_jitter) is None  # 1 + 2 attempts used


def test_no_retries_by_default() -> None:
    assert next_retry_at(1, datetime(2024, 1, 1, tzinfo=UTC), RetryPolicy(), no_jitter) is None


def test_retry_times_are_utc() -> None:
    from zoneinfo import ZoneInfo

    failed = datetime(2024, 3, 31, 1, 59, 50, tzinfo=ZoneInfo("Europe/Berlin"))
    result = next_retry_at(1, failed, RetryPolicy(max_retries=1, backoff_seconds=20), no_jitter)
    assert result == datetime(2024, 3, 31, 1, 0, 10, tzinfo=UTC)
    assert result is not None and result.tzinfo == UTC
