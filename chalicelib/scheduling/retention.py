"""Run history order and pruning, as pure functions over run-like records."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from chalicelib.scheduling.cron import as_utc
from chalicelib.scheduling.models import FINISHED


class RunLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def scheduled_at(self) -> datetime: ...
    @property
    def finished_at(self) -> datetime | None: ...
    @property
    def status(self) -> str: ...


R = TypeVar("R", bound=RunLike)


@dataclass(frozen=True)
class RetentionPolicy:
    """Keep at most `keep_last` runs per task, and no finished run older than `max_age`."""

    keep_last: int = 100
    max_age: timedelta = timedelta(days=30)

    def __post_init__(self) -> None:
        if self.keep_last < 1:
            raise ValueError("keep_last must be at least 1")
        if self.max_age <= timedelta(0):
            raise ValueError("max_age must be positive")


def history_order(runs: Iterable[R]) -> list[R]:
    """Newest first: by scheduled time (a manual run's is its request time), then by run id."""
    return sorted(runs, key=lambda run: (as_utc(run.scheduled_at), run.id), reverse=True)


def runs_to_prune(runs: Iterable[R], now: datetime, policy: RetentionPolicy) -> list[R]:
    """The runs to delete, newest first.

    A run goes when it is finished (completed, failed, cancelled) and either is not among the
    newest `keep_last` runs (unfinished runs count towards those) or finished before
    now - max_age (its scheduled time stands in when it has no finish time). Pending, running
    and retrying runs are never pruned.
    """
    cutoff = as_utc(now) - policy.max_age
    doomed = []
    for rank, run in enumerate(history_order(runs)):
        if run.status not in FINISHED:
            continue
        ended = as_utc(run.finished_at or run.scheduled_at)
        if rank >= policy.keep_last or ended < cutoff:
            doomed.append(run)
    return doomed
