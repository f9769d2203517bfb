"""Run history: newest first, and pruning by count and age that never touches live runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.scheduling import (
    RetentionPolicy,
    RunRecord,
    history_order,
    manual_run,
    run_key,
    runs_to_prune,
)

NOW = datetime(2024, 6, 30, 12, 0, tzinfo=UTC)


def run(hours_ago: float, status: str = "completed", manual: bool = False) -> RunRecord:
    at = NOW - timedelta(hours=hours_ago)
    key = manual_run("7", at, "req").key if manual else run_key("7", at)
    finished = at + timedelta(minutes=1) if status in ("completed", "failed", "cancelled") else None
    return RunRecord(
        id=key,
        task_id="7",
        trigger="manual" if manual else "schedule",
        scheduled_at=at,
        started_at=at,
        finished_at=finished,
        status=status,
    )


def test_history_is_newest_first() -> None:
    runs = [run(5), run(1), run(3), run(2, manual=True)]
    assert [r.scheduled_at for r in history_order(runs)] == [NOW - timedelta(hours=h) for h in (1, 2, 3, 5)]


def test_a_manual_run_at_the_same_instant_sorts_after_the_scheduled_one() -> None:
    scheduled, manual = run(1), run(1, manual=True)
    assert history_order([scheduled, manual]) == [manual, scheduled]
    assert history_order([manual, scheduled]) == [manual, scheduled]


def test_keep_last_n() -> None:
    runs = [run(h) for h in range(10)]
    doomed = runs_to_prune(runs, NOW, RetentionPolicy(keep_last=3, max_age=timedelta(days=365)))
    assert [r.id for r in doomed] == [r.id for r in history_order(runs)[3:]]


def test_max_age() -> None:
    runs = [run(1), run(47), run(49), run(100)]
    doomed = runs_to_prune(runs, NOW, RetentionPolicy(keep_last=100, max_age=timedelta(hours=48)))
    assert [r.scheduled_at for r in doomed] == [NOW - timedelta(hours=49), NOW - timedelta(hours=100)]


def test_live_runs_are_never_pruned_but_count_towards_the_newest() -> None:
    runs = [run(0.5, "running"), run(1, "retrying"), run(2, "pending"), run(3), run(400, "running")]
    doomed = runs_to_prune(runs, NOW, RetentionPolicy(keep_last=2, max_age=timedelta(hours=24)))
    assert [r.scheduled_at for r in doomed] == [NOW - timedelta(hours=3)]


def test_failed_and_cancelled_runs_are_pruned_like_completed_ones() -> None:
    runs = [run(1), run(2, "failed"), run(3, "cancelled")]
    doomed = runs_to_prune(runs, NOW, RetentionPolicy(keep_last=1))
    assert [r.status for r in doomed] == ["failed", "cancelled"]


def test_age_uses_the_finish_time() -> None:
    long_run = run(30).model_copy(update={"finished_at": NOW - timedelta(hours=1)})
    assert runs_to_prune([long_run], NOW, RetentionPolicy(max_age=timedelta(hours=24))) == []


def test_defaults_and_bad_policies() -> None:
    assert RetentionPolicy() == RetentionPolicy(keep_last=100, max_age=timedelta(days=30))
    with pytest.raises(ValueError):
        RetentionPolicy(keep_last=0)
    with pytest.raises(ValueError):
        RetentionPolicy(max_age=timedelta(0))


def test_nothing_to_prune() -> None:
    assert runs_to_prune([], NOW, RetentionPolicy()) == []
    assert runs_to_prune([run(1), run(2)], NOW, RetentionPolicy()) == []
