"""The scheduler never reads the wall clock itself: callers pass `now`, taken from a Clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from chalicelib.scheduling.cron import as_utc


class Clock(Protocol):
    def __call__(self) -> datetime:
        """The current instant, timezone-aware."""
        ...


def system_clock() -> datetime:
    return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to: drives ticks in tests and simulations."""

    def __init__(self, start: datetime) -> None:
        self._now = as_utc(start)

    def __call__(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> datetime:
        self._now = as_utc(moment)
        return self._now
