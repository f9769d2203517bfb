"""End to end on the REAL local stack: a task due in the next minute is queued once by the tick
that the stack's schedule emulation calls, runs on the stack's RQ worker (a signed webhook to this
test's HTTP endpoint), and its run shows in the history, in the event log and on a WebSocket
subscribed to the `tasks` channel (`task_run` events). Real time: the stack's tick comes every
minute, so this test waits up to about two minutes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from chalicelib.store import keys
from chalicelib.webhooks import signing
from tests.support.http_receiver import Receiver
from tests.support.realtime import recv, subscribe

pytestmark = pytest.mark.integration

# Skipped until the local stack's fixtures (tests/integration/conftest.py) are on this branch.
pytest.importorskip("tests.support.local_stack")

TENANT = "local"  # the stack's admin token belongs to this tenant
TICK_PERIOD = timedelta(minutes=1)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def ws(local_stack: Any) -> Iterator[ClientConnection]:
    """A WebSocket client of the stack, subscribed to the `tasks` channel."""
    with connect(f"{local_stack.ws_url}?token={local_stack.token}", open_timeout=10) as socket:
        subscribe(socket, ["tasks"])
        yield socket


def wait_for_run(api: httpx.Client, task_id: int, deadline: float) -> list[dict[str, Any]]:
    """Poll the history (an external process does the work) until a run has finished."""
    while True:
        history = api.get(f"/api/v1/scheduler/tasks/{task_id}/runs").json()
        if history and all(run["status"] in ("completed", "failed") for run in history):
            return list(history)
        if time.monotonic() > deadline:
            raise AssertionError(f"no finished run in time: {history}")
        time.sleep(0.5)


def test_a_task_due_in_the_next_minute_runs_once(
    api: httpx.Client, stack_store: Any, receiver: Receiver, ws: ClientConnection
) -> None:
    # One instant only: the next whole minute at least 5 s away, spelled out in the cron fields.
    due = (datetime.now(UTC) + timedelta(seconds=65)).replace(second=0, microsecond=0)
    created = api.post(
        "/api/v1/scheduler/tasks",
        json={
            "name": "e2e-once",
            "cron": f"{due.minute} {due.hour} {due.day} {due.month} *",
            "tz": "UTC",
            "action": {"type": "webhook", "url": receiver.url, "payload": {"e2e": True}},
        },
    )
    assert created.status_code == 201, created.text
    task = created.json()
    assert task["next_run_at"] == due.strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        wait = (due - datetime.now(UTC) + 2 * TICK_PERIOD + timedelta(seconds=30)).total_seconds()
        assert receiver.wait(1, timeout=wait), "the webhook was not called"
        [run] = wait_for_run(api, task["id"], time.monotonic() + 30)
        assert (run["trigger"], run["status"], run["attempt"]) == ("schedule", "completed", 1)
        assert run["scheduled_at"] == due.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert run["output"]["status_code"] == 200
        [(headers, raw)] = receiver.received
        signing.verify(task["action"]["secret"], headers, raw)
        # The run's events, in order, in the event log the WebSocket fan-out reads.
        events = stack_store.query_page(pk=keys.tenant_pk(TENANT), sk_prefix="EVENT#", limit=1000).items
        mine = [e for e in events if e["type"] == "task_run" and e["data"]["id"] == run["id"]]
        assert [(e["channel"], e["data"]["status"]) for e in mine] == [
            ("tasks", "pending"),
            ("tasks", "running"),
            ("tasks", "completed"),
        ]
        assert api.get(f"/api/v1/scheduler/tasks/{task['id']}").json()["next_run_at"] > run["scheduled_at"]
        # The same events on the WebSocket, in order, with their sequence numbers.
        seen: list[dict[str, Any]] = []
        while len(seen) < 3:
            frame = recv(ws, timeout=30)
            if frame["type"] == "task_run" and frame["data"]["id"] == run["id"]:
                seen.append(frame)
        assert [(f["channel"], f["data"]["status"]) for f in seen] == [
            ("tasks", "pending"),
            ("tasks", "running"),
            ("tasks", "completed"),
        ]
        assert [f["seq"] for f in seen] == [int(e["seq"]) for e in mine]
    finally:
        api.delete(f"/api/v1/scheduler/tasks/{task['id']}")
