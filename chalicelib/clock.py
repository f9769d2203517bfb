"""Time in one place: RFC 3339 UTC strings for the API, and a clock tests can replace."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def epoch() -> float:
    return time.time()


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, to the second (the reference's format)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_micro(moment: datetime) -> str:
    """Sortable RFC 3339 with microseconds, used inside sort keys."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
