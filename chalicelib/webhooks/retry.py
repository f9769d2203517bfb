"""What happens after a delivery attempt: done, retry later, give up, or disable the endpoint.

Attempt n (1-based) waits RETRY_SCHEDULE[n-1] after the previous failure: immediately, 5 s, 5 min,
30 min, 2 h, 5 h, 10 h, 10 h; so a message gets 8 attempts over about 27.5 hours. Each wait gets
+-10 % jitter (spreads a receiver's recovery load) and is never shorter than the receiver's
Retry-After (capped at 24 h). 410 Gone disables the endpoint at once; so does failing without a
single success for 5 days, across all of its messages.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum

RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_SCHEDULE)
JITTER_RATIO = 0.1
MAX_RETRY_AFTER = timedelta(hours=24)
DISABLE_AFTER = timedelta(days=5)
GONE = 410


class Action(StrEnum):
    SUCCESS = "success"
    RETRY = "retry"
    GIVE_UP = "give_up"
    DISABLE = "disable"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    retry_at: datetime | None = None
    # The endpoint's new "failing since" value: None after a success, else the first failure's time.
    failing_since: datetime | None = None


def is_success(status_code: int | None) -> bool:
    return status_code is not None and 200 <= status_code <= 299


def scheduled_delay(attempt: int) -> timedelta | None:
    """The wait after failed attempt `attempt` (1-based), or None when it was the last one."""
    if attempt < 1:
        raise ValueError("attempt numbers start at 1")
    return RETRY_SCHEDULE[attempt] if attempt < MAX_ATTEMPTS else None


def jittered(delay: timedelta, rng: random.Random, ratio: float = JITTER_RATIO) -> timedelta:
    """delay scaled by a uniform factor in [1 - ratio, 1 + ratio]."""
    return delay * rng.uniform(1 - ratio, 1 + ratio)


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A Retry-After header (delay-seconds or HTTP-date) as a wait from now; None when absent or invalid.

    Dates in the past mean "now" (zero wait).
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return timedelta(seconds=int(value)) if len(value) <= 10 else MAX_RETRY_AFTER
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with unknown local zone
        when = when.replace(tzinfo=UTC)
    return max(when - now, timedelta(0))


def decide(
    *,
    attempt: int,
    status_code: int | None,
    now: datetime,
    failing_since: datetime | None,
    rng: random.Random,
    retry_after: timedelta | None = None,
) -> Decision:
    """The next step after attempt `attempt` (1-based) ended with status_code (None: no response)."""
    if attempt < 1:
        raise ValueError("attempt numbers start at 1")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if is_success(status_code):
        return Decision(Action.SUCCESS, f"delivered ({status_code})")
    failing_since = failing_since or now
    if status_code == GONE:
        return Decision(Action.DISABLE, "endpoint answered 410 Gone", failing_since=failing_since)
    if now - failing_since >= DISABLE_AFTER:
        return Decision(
            Action.DISABLE,
            f"endpoint failing since {failing_since.isoformat()} (over {DISABLE_AFTER.days} days)",
            failing_since=failing_since,
        )
    delay = scheduled_delay(attempt)
    if delay is None:
        return Decision(Action.GIVE_UP, f"all {MAX_ATTEMPTS} attempts failed", failing_since=failing_since)
    wait = jittered(delay, rng)
    if retry_after is not None:
        wait = max(wait, min(retry_after, MAX_RETRY_AFTER))
    return Decision(
        Action.RETRY,
        f"attempt {attempt} failed; retrying in {wait.total_seconds():.0f} s",
        retry_at=now + wait,
        failing_since=failing_since,
    )
