"""The whole realtime path on the REAL local stack: a project created through the API commits an
event; the stack's stream pump hands it to the app's stream handler; the fan-out posts it through
the WebSocket gateway to a real WebSocket client; the matching webhook is delivered by the stack's
RQ worker to a real HTTP receiver, signed per Standard Webhooks (checked with the `standardwebhooks`
package). A receiver that is down, then up, gets each webhook-id delivered once successfully; an
endpoint answering 410 is disabled."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook
from websockets.sync.client import connect

from tests.support.local_stack import LocalStack
from tests.support.realtime import assert_nothing_more, recv, subscribe
from tests.support.webhook_receiver import Reply, WebhookReceiver


def _until(predicate: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # the stack's worker is another process: poll with a deadline
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError("condition not met before the deadline")


@pytest.fixture
def hooks(api: httpx.Client) -> Iterator[list[int]]:
    """Webhooks the test registers, removed afterwards so later tests' events do not reach them."""
    created: list[int] = []
    yield created
    for hook_id in created:
        api.delete(f"/api/v1/webhooks/{hook_id}")


def test_a_project_created_through_the_api_reaches_the_socket_and_the_webhook(
    local_stack: LocalStack, api: httpx.Client, hooks: list[int]
) -> None:
    name = f"rt-{uuid.uuid4().hex[:8]}"
    with WebhookReceiver() as healthy, WebhookReceiver(default=Reply(status=410)) as leaving:
        healthy.reply_with(Reply(status=503))  # down for the first attempt, then up
        hook = api.post("/api/v1/webhooks", json={"url": healthy.url(), "events": ["project.created"]})
        assert hook.status_code == 201, hook.text
        gone = api.post("/api/v1/webhooks", json={"url": leaving.url(), "events": ["project.*"]})
        assert gone.status_code == 201, gone.text
        hooks.extend([hook.json()["id"], gone.json()["id"]])

        with connect(f"{local_stack.ws_url}?token={local_stack.token}", open_timeout=10) as ws:
            subscribe(ws, ["projects"])
            created = api.post("/api/v1/projects", json={"name": name, "path": f"/srv/{name}"})
            assert created.status_code == 201, created.text
            event = recv(ws, timeout=30)
            assert (event["type"], event["channel"]) == ("project_created", "projects")
            assert (event["data"]["id"], event["data"]["name"]) == (created.json()["id"], name)
            assert event["seq"] >= 1 and event["timestamp"].endswith("Z")
            assert_nothing_more(ws)

        # The first attempt met a 503; the scheduled retry (about 5 s later) succeeds, same webhook-id.
        first, second = healthy.wait_for(2, timeout=60)
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        payload = Webhook(hook.json()["secret"]).verify(second.body, second.headers)
        assert payload["type"] == "project.created" and payload["data"]["name"] == name
        attempts = _until(lambda: _attempts(api, hook.json()["id"], 2))
        assert [(a["attempt"], a["status_code"], a["outcome"]) for a in attempts] == [
            (2, 200, "success"),
            (1, 503, "retry"),
        ]

        # 410 disabled the other endpoint: the next event reaches only the healthy one.
        leaving.wait_for(1)
        _until(lambda: api.get(f"/api/v1/webhooks/{gone.json()['id']}").json()["enabled"] is False)
        api.post("/api/v1/projects", json={"name": f"{name}-2", "path": f"/srv/{name}-2"})
        third = healthy.wait_for(3, timeout=30)[2]
        assert json.loads(third.body)["data"]["name"] == f"{name}-2"
        assert len(leaving.requests) == 1
        assert len({r.headers["webhook-id"] for r in healthy.requests}) == 2


def _attempts(api: httpx.Client, hook_id: int, count: int) -> list[dict[str, Any]] | None:
    response = api.get(f"/api/v1/webhooks/{hook_id}/deliveries")
    attempts = response.json()
    return attempts if response.status_code == 200 and len(attempts) >= count else None
