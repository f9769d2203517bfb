"""Exponential backoff with bounded jitter for failed runs; the randomness is injectable."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from chalicelib.scheduling.cron import as_utc
from chalicelib.scheduling.models import RetryPolicy

# The jitter only ever shortens a delay, by at most this fraction: retries of many runs that
# failed together spread out, and no delay exceeds the configured cap.
JITTER_RATIO = 0.2
_MAX_EXPONENT = 32  # 2**32 seconds is far beyond any cap; avoids building huge integers

Random = Callable[[], float]


def retry_delay(retry_number: int, policy: RetryPolicy, rng: Random = random.random) -> timedelta:
    """Wait before retry `retry_number` (1 = the first retry).

    min(cap, base * 2**(retry_number - 1)), shortened by a jitter of up to 20%: the result lies
    in (0.8 * d, d]. `rng` returns a float in [0, 1), like random.random.
    """
    if retry_number < 1:
        raise ValueError("retry_number starts at 1")
    sample = rng()
    if not 0.0 <= sample < 1.0:
        raise ValueError("rng must return a float in [0, 1)")
    exponent = min(retry_number - 1, _MAX_EXPONENT)
    ceiling = min(policy.max_backoff_seconds, policy.backoff_seconds * 2**exponent)
    return timedelta(seconds=ceiling * (1.0 - JITTER_RATIO * sample))


def next_retry_at(
    failed_attempt: int,
    failed_at: datetime,
    policy: RetryPolicy,
    rng: Random = random.random,
) -> datetime | None:
    """When to start the next attempt after attempt `failed_attempt` (1-based) failed, or None
    when the run has used its 1 + max_retries attempts and is finally failed."""
    if failed_attempt < 1:
        raise ValueError("failed_attempt starts at 1")
    if failed_attempt > policy.max_retries:
        return None
    return as_utc(failed_at) + retry_delay(failed_attempt, policy, rng)
