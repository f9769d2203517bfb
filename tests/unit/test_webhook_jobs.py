"""Webhook deliveries as RQ jobs: what the stream enqueues for new events, the signed request a
real loopback receiver gets (checked with the standardwebhooks package), attempt records,
retries scheduled no sooner than Retry-After, 410 disabling the endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis import Redis
from rq import Queue
from rq.registry import ScheduledJobRegistry
from standardwebhooks.webhooks import Webhook

from chalicelib import aws as aws_clients
from chalicelib.config import get_settings, reset_settings
from tests.support.streams import StreamReader
from tests.support.webhook_receiver import Reply, WebhookReceiver
from tests.unit.conftest import Caller, body
from workers import webhook_jobs


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    monkeypatch.setenv("BORGOS_ALLOW_PRIVATE_WEBHOOK_TARGETS", "true")
    reset_settings()
    with WebhookReceiver() as running:
        yield running


@pytest.fixture
def stream(aws: None) -> StreamReader:
    return StreamReader(
        aws_clients.client("dynamodb"), aws_clients.client("dynamodbstreams"), get_settings().table_name
    )


def _hook(caller: Caller, url: str, events: list[str]) -> dict[str, Any]:
    response = caller.post("/api/v1/webhooks", {"url": url, "events": events})
    assert response.status_code == 201, response.body
    return dict(body(response))


def _queue(redis_url: str) -> Queue:
    return Queue("default", connection=Redis.from_url(redis_url))


def _pump(stream: StreamReader) -> list[dict[str, Any]]:
    from app import on_table_change

    records = stream.drain()
    on_table_change({"Records": records}, None)
    return records


def test_new_events_enqueue_one_delivery_per_matching_hook_once(
    stream: StreamReader, receiver: WebhookReceiver, redis_queue: str, alice: Caller, bob: Caller
) -> None:
    from app import on_table_change

    wanted = _hook(alice, receiver.url(), ["project.*"])
    _hook(alice, receiver.url(), ["deployment.failed"])  # does not match
    _hook(bob, receiver.url(), ["*"])  # another tenant's
    disabled = _hook(alice, receiver.url(), ["*"])
    alice.post(f"/api/v1/webhooks/{disabled['id']}/toggle")
    stream.drain()
    alice.post("/api/v1/projects", {"name": "NewProject", "path": "/projects/new"})
    records = _pump(stream)
    on_table_change({"Records": records}, None)  # a retried batch enqueues nothing more
    queue = _queue(redis_queue)
    (job,) = queue.get_jobs()
    assert job.func_name == "workers.webhook_jobs.deliver"
    kwargs = job.kwargs
    assert (kwargs["tenant"], kwargs["webhook_id"], kwargs["attempt"]) == ("alice", wanted["id"], 1)
    assert kwargs["message"]["type"] == "project.created"
    assert kwargs["message"]["data"]["name"] == "NewProject"


def test_a_delivery_is_signed_exactly_and_recorded(
    aws: None, receiver: WebhookReceiver, redis_queue: str, alice: Caller
) -> None:
    hook = _hook(alice, receiver.url("/in"), ["*"])
    message = {
        "id": "msg_alice_1",
        "type": "project.created",
        "timestamp": "2024-01-15T11:00:00Z",
        "data": {"id": 3},
    }
    assert webhook_jobs.deliver("alice", hook["id"], message) == "success"
    (request,) = receiver.wait_for(1)
    assert request.body == b'{"type":"project.created","timestamp":"2024-01-15T11:00:00Z","data":{"id":3}}'
    assert Webhook(hook["secret"]).verify(request.body, request.headers) == {
        "type": "project.created",
        "timestamp": "2024-01-15T11:00:00Z",
        "data": {"id": 3},
    }
    assert request.headers["webhook-id"] == "msg_alice_1"
    (attempt,) = body(alice.get(f"/api/v1/webhooks/{hook['id']}/deliveries"))
    assert attempt["status_code"] == 200 and attempt["outcome"] == "success" and attempt["error"] is None
    assert attempt["attempt"] == 1 and attempt["duration_ms"] >= 0 and attempt["attempted_at"].endswith("Z")


def test_a_failure_schedules_the_next_attempt_no_sooner_than_retry_after(
    aws: None, receiver: WebhookReceiver, redis_queue: str, alice: Caller
) -> None:
    hook = _hook(alice, receiver.url(), ["*"])
    receiver.reply_with(*[Reply(status=503, headers={"Retry-After": "120"})] * 2)
    message = {
        "id": "msg_alice_7",
        "type": "project.created",
        "timestamp": "2024-01-15T11:00:00Z",
        "data": {},
    }
    now = datetime.now(UTC)
    assert webhook_jobs.deliver("alice", hook["id"], message, now=now) == "retry"
    registry = ScheduledJobRegistry(queue=_queue(redis_queue))
    (job_id,) = registry.get_job_ids()
    assert job_id.endswith("-msg_alice_7-a2")
    scheduled = registry.get_scheduled_time(job_id)
    assert scheduled >= (now + timedelta(seconds=120)).replace(microsecond=0)
    (attempt,) = body(alice.get(f"/api/v1/webhooks/{hook['id']}/deliveries"))
    assert (attempt["status_code"], attempt["outcome"], attempt["error"]) == (503, "retry", "HTTP 503")
    assert attempt["next_attempt_at"] is not None
    assert body(alice.get(f"/api/v1/webhooks/{hook['id']}"))["failing_since"] is not None
    # Running the same attempt again (a worker retry) schedules nothing more.
    assert webhook_jobs.deliver("alice", hook["id"], message, now=now + timedelta(seconds=1)) == "retry"
    assert registry.get_job_ids() == [job_id]
    # The retry succeeds: the endpoint is healthy again.
    assert webhook_jobs.deliver("alice", hook["id"], message, attempt=2) == "success"
    assert body(alice.get(f"/api/v1/webhooks/{hook['id']}"))["failing_since"] is None
    attempts = body(alice.get(f"/api/v1/webhooks/{hook['id']}/deliveries"))
    assert sorted(a["attempt"] for a in attempts) == [1, 1, 2]
    times = [a["attempted_at"] for a in attempts]
    assert times == sorted(times, reverse=True)  # newest first


def test_410_disables_the_endpoint_and_drops_its_retries(
    aws: None, receiver: WebhookReceiver, redis_queue: str, alice: Caller
) -> None:
    hook = _hook(alice, receiver.url(), ["*"])
    receiver.reply_with(Reply(status=410))
    message = {
        "id": "msg_alice_9",
        "type": "project.created",
        "timestamp": "2024-01-15T11:00:00Z",
        "data": {},
    }
    assert webhook_jobs.deliver("alice", hook["id"], message) == "disable"
    state = body(alice.get(f"/api/v1/webhooks/{hook['id']}"))
    assert state["enabled"] is False and "410" in state["disabled_reason"]
    assert ScheduledJobRegistry(queue=_queue(redis_queue)).get_job_ids() == []
    assert webhook_jobs.deliver("alice", hook["id"], message, attempt=2) == "skipped"
    assert len(receiver.requests) == 1


def test_a_deleted_hook_is_skipped(aws: None, receiver: WebhookReceiver, alice: Caller) -> None:
    hook = _hook(alice, receiver.url(), ["*"])
    alice.delete(f"/api/v1/webhooks/{hook['id']}")
    message = {
        "id": "msg_alice_2",
        "type": "project.created",
        "timestamp": "2024-01-15T11:00:00Z",
        "data": {},
    }
    assert webhook_jobs.deliver("alice", hook["id"], message) == "skipped"
    assert receiver.requests == []
