"""The tick against the store, driven by a manual clock: exactly once under overlapping and
retried ticks, late ticks, catch-up after downtime, retries queued when their backoff is over,
and due tasks found by a Query of the due index (never a Scan)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import scheduler_runs, scheduler_tasks, scheduler_tick
from chalicelib.scheduling import SchedulerTaskCreate
from chalicelib.store import table
from tests.support.scheduler import install_clock, jobs, run_events, runs

START = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    return install_clock(monkeypatch, START)


def make(tenant: str = "alice", **overrides: Any) -> int:
    request = SchedulerTaskCreate.model_validate(
        {
            "name": "job",
            "cron": "*/5 * * * *",
            "tz": "UTC",
            "action": {"type": "scan", "project_id": 1},
            **overrides,
        }
    )
    return scheduler_tasks.create_task(tenant, request).id


def scheduled(tenant: str, task_id: int) -> list[str]:
    return [r["scheduled_at"][11:16] for r in runs(tenant, task_id)]


def test_a_tick_queues_each_due_run_once_with_job_and_event(clock: Any) -> None:
    task_id = make()
    clock.advance(timedelta(minutes=5))
    assert scheduler_tick.tick(clock()).runs == 1
    assert scheduler_tick.tick(clock()).runs == 0  # retried by EventBridge
    [run] = runs("alice", task_id)
    assert (run["id"], run["trigger"], run["status"]) == (
        "1#2024-06-01T12:05:00.000000Z",
        "schedule",
        "pending",
    )
    [job] = jobs("alice")
    assert job["kwargs"] == {"tenant": "alice", "task_id": 1, "run_key": run["id"]}
    assert job["job_id"] == scheduler_runs.job_id("alice", run["id"], 1)
    [event] = run_events("alice")
    assert event["data"]["id"] == run["id"]
    assert scheduler_tasks.get_task("alice", task_id).next_run_at == datetime(2024, 6, 1, 12, 10, tzinfo=UTC)


def test_overlapping_ticks_queue_each_run_once(clock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tick B read the task before tick A committed: B's conditional writes fail, it re-reads
    and finds nothing left to do."""
    task_id = make()
    clock.advance(timedelta(minutes=5))
    stale = scheduler_tasks.get_item("alice", task_id)
    store = table.get_store()
    real_get = store.get
    served: list[str] = []

    def get_once_stale(pk: str, sk: str, **kwargs: Any) -> Any:
        if sk == stale["SK"] and not served:
            served.append(sk)
            scheduler_tick.dispatch_task("alice", task_id, clock())  # tick A wins meanwhile
            return stale
        return real_get(pk, sk, **kwargs)

    monkeypatch.setattr(store, "get", get_once_stale)
    assert scheduler_tick.dispatch_task("alice", task_id, clock()) == 0  # tick B
    assert served
    assert scheduled("alice", task_id) == ["12:05"]
    assert len(jobs("alice")) == 1
    assert len(run_events("alice")) == 1


def test_a_tick_that_dies_half_way_is_completed_by_its_retry(
    clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = make(cron="* * * * *", catch_up={"mode": "all", "max_runs": 50})
    clock.advance(timedelta(hours=2))  # 15 on-time runs and 50 caught up: three commits
    real_commit = scheduler_tick._commit
    calls = []

    def crash_on_second(*args: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("Lambda timed out")
        real_commit(*args)

    monkeypatch.setattr(scheduler_tick, "_commit", crash_on_second)
    with pytest.raises(RuntimeError, match="will be retried"):
        scheduler_tick.tick(clock())
    assert len(runs("alice", task_id)) == scheduler_tick.RUNS_PER_COMMIT
    monkeypatch.setattr(scheduler_tick, "_commit", real_commit)
    report = scheduler_tick.tick(clock())  # the retry
    assert report.runs == 65 - scheduler_tick.RUNS_PER_COMMIT
    keys = [r["id"] for r in runs("alice", task_id)]
    assert len(keys) == len(set(keys)) == 65
    assert len(jobs("alice")) == 65


def test_a_late_tick_skips_nothing(clock: Any) -> None:
    task_id = make(catch_up="none")
    clock.advance(timedelta(minutes=14))  # ticks at 12:05 and 12:10 never came
    assert scheduler_tick.tick(clock()).runs == 2
    assert scheduled("alice", task_id) == ["12:05", "12:10"]
    assert [r["trigger"] for r in runs("alice", task_id)] == ["schedule", "schedule"]


@pytest.mark.parametrize(
    ("catch_up", "expected"),
    [
        ("none", ["14:50", "14:55", "15:00"]),
        ("latest", ["14:50", "14:55", "15:00"]),  # on-time runs stand for the missed ones
        ({"mode": "all", "max_runs": 3}, ["14:35", "14:40", "14:45", "14:50", "14:55", "15:00"]),
    ],
)
def test_catch_up_after_downtime(clock: Any, catch_up: Any, expected: list[str]) -> None:
    task_id = make(catch_up=catch_up)
    clock.set(datetime(2024, 6, 1, 15, 0, tzinfo=UTC))  # down for three hours
    scheduler_tick.tick(clock())
    assert scheduled("alice", task_id) == expected


def test_latest_catch_up_runs_the_newest_missed_run_when_nothing_is_on_time(clock: Any) -> None:
    task_id = make(cron="0 13 * * *", catch_up="latest")
    clock.set(datetime(2024, 6, 3, 14, 0, tzinfo=UTC))
    scheduler_tick.tick(clock())
    [run] = runs("alice", task_id)
    assert (run["scheduled_at"], run["trigger"]) == ("2024-06-03T13:00:00.000000Z", "catch_up")


def test_each_tenant_gets_its_own_runs(clock: Any) -> None:
    make("alice")
    make("bob")
    clock.advance(timedelta(minutes=5))
    assert scheduler_tick.tick(clock()).runs == 2
    assert len(runs("alice", 1)) == len(runs("bob", 1)) == 1
    assert jobs("alice")[0]["kwargs"]["tenant"] == "alice"
    assert jobs("bob")[0]["kwargs"]["tenant"] == "bob"


def test_due_tasks_are_found_by_query_not_scan(clock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(5):
        make()
    disabled = make(enabled=False)
    client = table.get_store().client
    queries: list[dict[str, Any]] = []
    real_query = client.query

    def recording_query(**request: Any) -> Any:
        queries.append(request)
        return real_query(**request)

    def no_scan(**request: Any) -> Any:
        raise AssertionError("the tick must not Scan")

    monkeypatch.setattr(client, "query", recording_query)
    monkeypatch.setattr(client, "scan", no_scan)
    clock.advance(timedelta(minutes=5))
    assert scheduler_tick.tick(clock()).runs == 5
    assert runs("alice", disabled) == []
    due_queries = [q for q in queries if q.get("IndexName") == "GSI2"]
    assert len(due_queries) == scheduler_runs.DUE_SHARDS


def test_tick_clock_file(clock: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.config import reset_settings

    path = tmp_path / "now"
    path.write_text("2024-06-01T12:05:00Z\n")
    monkeypatch.setenv("BORGOS_SCHEDULER_CLOCK_FILE", str(path))
    reset_settings()
    make()
    assert scheduler_tick.tick_now() == datetime(2024, 6, 1, 12, 5, tzinfo=UTC)
    assert scheduler_tick.tick().runs == 1


def test_a_retrying_run_is_queued_again_once_its_backoff_is_over(clock: Any) -> None:
    task_id = make(retry={"max_retries": 2, "backoff_seconds": 60})
    clock.advance(timedelta(minutes=5))
    scheduler_tick.tick(clock())
    [run] = runs("alice", task_id)
    run = scheduler_runs.start("alice", run, clock())
    policy = scheduler_tasks.definition(scheduler_tasks.get_item("alice", task_id)).retry
    run = scheduler_runs.finish("alice", run, clock(), policy, error="boom", rng=lambda: 0.5)
    assert run["status"] == "retrying"
    assert run["next_retry_at"] == "2024-06-01T12:05:54.000000Z"  # 60 s less 10 % jitter
    clock.advance(timedelta(seconds=50))
    assert scheduler_tick.tick(clock()).run_updates == 0
    clock.advance(timedelta(seconds=10))
    report = scheduler_tick.tick(clock())
    assert (report.runs, report.run_updates) == (0, 1)
    assert scheduler_tick.tick(clock()).run_updates == 0
    [run] = runs("alice", task_id)
    assert (run["status"], run["attempt"]) == ("pending", 1)
    assert "next_retry_at" not in run and "GSI2PK" not in run
    assert [j["job_id"] for j in jobs("alice")] == sorted(
        [scheduler_runs.job_id("alice", run["id"], 1), scheduler_runs.job_id("alice", run["id"], 2)]
    )


def test_an_attempt_no_worker_finished_is_failed_by_the_tick(clock: Any) -> None:
    """A worker killed mid-run leaves the run `running`; the tick fails that attempt once it is
    overdue, retries apply, and the lost worker's late report changes nothing."""
    task_id = make(cron="5 12 * * *", retry={"max_retries": 1, "backoff_seconds": 60})
    clock.advance(timedelta(minutes=5))
    scheduler_tick.tick(clock())
    [run] = runs("alice", task_id)
    lost = scheduler_runs.start("alice", run, clock())
    clock.advance(scheduler_runs.LOST_AFTER - timedelta(seconds=1))
    assert scheduler_tick.tick(clock()).run_updates == 0
    clock.advance(timedelta(seconds=1))
    assert scheduler_tick.tick(clock()).run_updates == 1
    [run] = runs("alice", task_id)
    assert (run["status"], run["attempt"]) == ("retrying", 1)
    assert run["error"] == "no worker finished attempt 1 within 1020 s"
    policy = scheduler_tasks.definition(scheduler_tasks.get_item("alice", task_id)).retry
    with pytest.raises(scheduler_runs.Raced):
        scheduler_runs.finish("alice", lost, clock(), policy, output={"late": True})
    # The second attempt completes; a finished run leaves the due list.
    clock.advance(timedelta(minutes=2))
    scheduler_tick.tick(clock())
    [run] = runs("alice", task_id)
    run = scheduler_runs.start("alice", run, clock())
    done = scheduler_runs.finish("alice", run, clock(), policy, output={"ok": True})
    assert done["status"] == "completed"
    [run] = runs("alice", task_id)
    assert (run["status"], run["attempt"], run["output"]) == ("completed", 2, {"ok": True})
    assert "GSI2PK" not in run and "error" not in run
