"""The run job (workers.scheduler_jobs.run_scheduled) and the action dispatcher: the webhook
action against a real local HTTP server (signed, private targets per setting), retries with
backoff driven by the manual clock, history retention, deleted tasks and duplicate jobs."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import scheduler_runs, scheduler_tasks, scheduler_tick
from chalicelib.config import reset_settings
from chalicelib.scheduling import SchedulerTaskCreate
from chalicelib.webhooks import signing
from tests.support.http_receiver import Receiver
from tests.support.scheduler import install_clock, items, jobs, run_events, runs
from workers import scheduler_actions
from workers.scheduler_jobs import run_scheduled

START = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
SECRET = "whsec_" + "c2NoZWR1bGVyLXRlc3Qtc2VjcmV0LWtleS0xMjM0NTY="


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def receiver(receiver_server: Receiver) -> Receiver:
    receiver_server.statuses.clear()
    receiver_server.received.clear()
    return receiver_server


@pytest.fixture
def clock(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("BORGOS_ALLOW_PRIVATE_WEBHOOK_TARGETS", "1")
    reset_settings()
    return install_clock(monkeypatch, START)


def make(action: dict[str, Any], **overrides: Any) -> int:
    request = SchedulerTaskCreate.model_validate(
        {"name": "hook", "cron": "*/5 * * * *", "tz": "UTC", "action": action, **overrides}
    )
    return scheduler_tasks.create_task("alice", request).id


def webhook(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "webhook", "url": url, "secret": SECRET, "payload": {"check": "disk"}, **extra}


def due_run(clock: Any, task_id: int) -> str:
    clock.advance(timedelta(minutes=5))
    scheduler_tick.tick(clock())
    return runs("alice", task_id)[-1]["id"]


def execute(clock: Any, task_id: int, key: str) -> dict[str, Any] | None:
    return run_scheduled("alice", task_id, key, now=clock, rng=lambda: 0.0)


def test_webhook_run_calls_the_url_signed_and_records_the_outcome(clock: Any, receiver: Receiver) -> None:
    task_id = make(webhook(receiver.url))
    key = due_run(clock, task_id)
    finished = execute(clock, task_id, key)
    assert finished is not None
    [(headers, raw)] = receiver.received
    message_id = signing.verify(SECRET, headers, raw, now=clock().timestamp())
    sent = json.loads(raw)
    assert sent["type"] == "scheduler.task_run"
    assert sent["data"] == {
        "task_id": task_id,
        "task_name": "hook",
        "run_id": key,
        "trigger": "schedule",
        "scheduled_at": "2024-06-01T12:05:00.000000Z",
        "attempt": 1,
        "payload": {"check": "disk"},
    }
    [run] = runs("alice", task_id)
    assert (run["status"], run["attempt"], run.get("error")) == ("completed", 1, None)
    assert run["started_at"] == run["finished_at"] == "2024-06-01T12:05:00.000000Z"
    assert run["output"]["status_code"] == 200
    assert run["output"]["message_id"] == message_id
    assert [e["data"]["status"] for e in run_events("alice")] == ["pending", "running", "completed"]
    assert [e["name"] for e in run_events("alice")][-1] == "task_run.completed"
    # A duplicate of the job (or a late RQ retry) does nothing.
    assert execute(clock, task_id, key) is None
    assert len(receiver.received) == 1


def test_failed_runs_retry_with_backoff_then_fail(clock: Any, receiver: Receiver) -> None:
    receiver.statuses.extend([500, 503, 500])
    task_id = make(webhook(receiver.url), retry={"max_retries": 2, "backoff_seconds": 60})
    key = due_run(clock, task_id)
    retry_waits = []
    for attempt in (1, 2, 3):
        run = execute(clock, task_id, key)
        assert run is not None and run["attempt"] == attempt
        if attempt < 3:
            assert run["status"] == "retrying"
            assert run["error"].endswith(f"HTTP {[500, 503][attempt - 1]}")
            retry_at = datetime.fromisoformat(run["next_retry_at"])
            retry_waits.append(retry_at - clock())
            clock.set(retry_at - timedelta(seconds=1))
            assert scheduler_tick.tick(clock()).run_updates == 0  # not yet
            clock.set(retry_at)
            assert scheduler_tick.tick(clock()).run_updates == 1
    assert retry_waits == [timedelta(seconds=60), timedelta(seconds=120)]  # doubling (rng 0: no jitter)
    [run] = runs("alice", task_id)
    assert (run["status"], run["attempt"], run["error"]) == ("failed", 3, f"webhook {receiver.url}: HTTP 500")
    assert "GSI2PK" not in run and "next_retry_at" not in run
    assert len(receiver.received) == 3
    # Each attempt had its own job; the webhook message id stays the same across retries.
    assert len(jobs("alice")) == 3
    assert len({headers["webhook-id"] for headers, _ in receiver.received}) == 1
    statuses = [e["data"]["status"] for e in run_events("alice")]
    assert statuses == [
        "pending",
        "running",
        "retrying",
        "pending",
        "running",
        "retrying",
        "pending",
        "running",
        "failed",
    ]


def test_private_targets_are_refused_unless_allowed(
    clock: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BORGOS_ALLOW_PRIVATE_WEBHOOK_TARGETS")
    reset_settings()
    task_id = make(webhook(receiver.url))
    key = due_run(clock, task_id)
    run = execute(clock, task_id, key)
    assert run is not None and run["status"] == "failed"
    assert "target refused" in run["error"] and "loopback" in run["error"]
    assert receiver.received == []


def test_history_keeps_the_newest_runs(
    clock: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BORGOS_SCHEDULER_HISTORY_KEEP", "3")
    reset_settings()
    task_id = make(webhook(receiver.url))
    keys = []
    for _ in range(5):
        keys.append(due_run(clock, task_id))
        execute(clock, task_id, keys[-1])
    assert [r["id"] for r in runs("alice", task_id)] == keys[-3:]
    _, page, total = scheduler_tasks.list_runs("alice", task_id, limit=10)
    assert total == 3
    assert [r["id"] for r in page.items] == list(reversed(keys[-3:]))


def test_history_drops_finished_runs_older_than_max_age(clock: Any, receiver: Receiver) -> None:
    task_id = make(webhook(receiver.url), cron="0 12 * * *")
    clock.set(datetime(2024, 6, 2, 12, 0, tzinfo=UTC))
    scheduler_tick.tick(clock())
    first = runs("alice", task_id)[0]["id"]
    execute(clock, task_id, first)
    clock.set(datetime(2024, 7, 3, 12, 0, tzinfo=UTC))
    scheduler_tick.tick(clock())
    latest = runs("alice", task_id)[-1]["id"]
    execute(clock, task_id, latest)
    assert [r["id"] for r in runs("alice", task_id)] == [latest]  # the June run is over 30 days old


def test_a_run_of_a_deleted_task_is_cancelled(clock: Any, receiver: Receiver) -> None:
    from chalicelib.store.table import get_store

    task_id = make(webhook(receiver.url))
    key = due_run(clock, task_id)
    # The task item is gone but its history not yet (delete_task clears it right after).
    get_store().delete("T#alice", scheduler_tasks.task_sk(task_id))
    run = execute(clock, task_id, key)
    assert run is not None and (run["status"], run["error"]) == ("cancelled", "the task was deleted")
    assert receiver.received == []
    scheduler_runs.delete_history("alice", task_id)
    assert items("alice", "SCHEDRUN#") == []


def test_unavailable_entry_points_fail_the_run_clearly() -> None:
    with pytest.raises(scheduler_actions.ActionFailed, match=r"chalicelib\.nowhere\.thing is not available"):
        scheduler_actions._entry("chalicelib.nowhere", "thing")


def test_a_crashing_action_is_recorded_as_an_internal_error(
    clock: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = make(webhook(receiver.url))
    key = due_run(clock, task_id)

    def crash(ctx: Any) -> Any:
        raise KeyError("surprise")

    monkeypatch.setattr("workers.scheduler_jobs.execute", crash)
    run = execute(clock, task_id, key)
    assert run is not None and (run["status"], run["error"]) == ("failed", "internal error: KeyError")


def configured_webhook(receiver: Receiver, **extra: Any) -> int:
    """A webhook created through the webhook service (outbound, or a trigger with `action`)."""
    from chalicelib.webhooks import service
    from chalicelib.webhooks.models import WebhookCreate

    request = WebhookCreate.model_validate({"url": receiver.url, "events": ["*"], "secret": SECRET, **extra})
    return int(service.create_webhook("alice", request).id)


def test_a_configured_webhook_is_called_signed(clock: Any, receiver: Receiver) -> None:
    from chalicelib.webhooks import service

    webhook_id = configured_webhook(receiver)
    task_id = make({"type": "webhook", "webhook_id": webhook_id})
    run = execute(clock, task_id, due_run(clock, task_id))
    assert run is not None and run["status"] == "completed", run
    [(headers, raw)] = receiver.received
    signing.verify(SECRET, headers, raw, now=clock().timestamp())
    assert json.loads(raw)["data"]["task_id"] == task_id
    # The call shows in the webhook's delivery history.
    [delivery], _, total = service.list_deliveries("alice", webhook_id, limit=10)
    assert (total, delivery.status_code, delivery.event_type) == (1, 200, "scheduler.task_run")


@pytest.mark.skipif(
    not hasattr(importlib.import_module("chalicelib.webhooks.incoming"), "run_action"),
    reason="chalicelib.webhooks.incoming.run_action (the realtime/webhooks branch) is not on main yet",
)
def test_a_trigger_webhook_runs_its_action_once_per_run(clock: Any, receiver: Receiver) -> None:
    """A webhook with an action is triggered (chalicelib.webhooks.incoming.run_action), not called."""
    from chalicelib import projects
    from chalicelib.models.projects import ProjectCreate

    project_id = projects.create_project("alice", ProjectCreate(name="web", path="/srv/web")).id
    webhook_id = configured_webhook(receiver, action={"type": "scan", "project_id": project_id})
    task_id = make({"type": "webhook", "webhook_id": webhook_id})
    key = due_run(clock, task_id)
    run = execute(clock, task_id, key)
    assert run is not None and run["status"] == "completed", (run or {}).get("error")
    assert (run["output"]["action"], run["output"]["project_id"]) == ("scan", project_id)
    assert any(job["function"] == "workers.scan_jobs.scan_project" for job in jobs("alice"))
    assert receiver.received == []


def test_a_due_run_goes_through_the_stream_and_rq_to_the_worker_once(
    clock: Any, receiver: Receiver, redis_queue: str
) -> None:
    """Tick -> job request in the run's transaction -> stream -> RQ -> run_scheduled on a worker."""
    from redis import Redis
    from rq import Queue

    from chalicelib import stream as table_stream
    from chalicelib.aws import client as aws_client
    from chalicelib.config import get_settings
    from tests.support.rq_run import work
    from tests.support.streams import StreamReader

    reader = StreamReader(aws_client("dynamodb"), aws_client("dynamodbstreams"), get_settings().table_name)
    task_id = make(webhook(receiver.url))
    key = due_run(clock, task_id)
    records = reader.drain()
    table_stream.handle_records(records)
    table_stream.handle_records(records)  # a retried stream batch enqueues nothing more
    connection = Redis.from_url(redis_queue)
    queue = Queue("default", connection=connection)
    assert queue.job_ids == [scheduler_runs.job_id("alice", key, 1)]
    work(redis_queue, ["default"])
    [run] = runs("alice", task_id)
    assert run["status"] == "completed"
    assert len(receiver.received) == 1
    assert run["started_at"] == "2024-06-01T12:05:00.000000Z"  # the app's clock, read at run time
