"""The whole realtime path through real pieces: an API write commits an event; the stream pump
hands it to the app's stream handler; the fan-out posts it through the local API Gateway emulator to
a real WebSocket client; the matching webhook is delivered by a real RQ worker process to a real
HTTP receiver, signed per Standard Webhooks (checked with the `standardwebhooks` package).
A receiver that is down, then up, gets each webhook-id delivered once successfully; 410 disables."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from chalice.test import Client
from standardwebhooks.webhooks import Webhook
from websockets.sync.client import connect

from chalicelib.config import reset_settings
from tests.support.local_services import StreamPump, moto_table, rq_workers
from tests.support.realtime import assert_nothing_more, recv, subscribe
from tests.support.webhook_receiver import Reply, WebhookReceiver

pytestmark = pytest.mark.integration


@dataclass
class Stack:
    api: Client
    ws_url: str
    token: str

    def call(self, method: str, path: str, payload: Any = None) -> Any:
        response = self.api.http.request(
            method,
            path,
            body=json.dumps(payload).encode() if payload is not None else b"",
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        return response.status_code, json.loads(response.body) if response.body else None


@pytest.fixture(scope="module")
def stack(redis_url: str) -> Iterator[Stack]:
    import os

    from app import app
    from chalicelib import jobs
    from chalicelib.models.tokens import TokenCreate
    from chalicelib.tokens import issue_token
    from infra.local.ws_gateway import run_in_thread

    saved = {k: os.environ.get(k) for k in ("BORGOS_REDIS_URL", "BORGOS_ALLOW_PRIVATE_WEBHOOK_TARGETS")}
    os.environ.update(BORGOS_REDIS_URL=redis_url, BORGOS_ALLOW_PRIVATE_WEBHOOK_TARGETS="true")
    jobs.redis_connection.cache_clear()
    with moto_table() as env:
        gateway = run_in_thread(app, configure_app=False)
        os.environ["BORGOS_WEBSOCKET_ENDPOINT"] = gateway.management_url
        reset_settings()
        worker_env = {**env, "BORGOS_ALLOW_PRIVATE_WEBHOOK_TARGETS": "true"}
        try:
            with rq_workers(1, worker_env, redis_url), StreamPump(), Client(app) as api:
                token = issue_token("alice", TokenCreate(name="e2e", scopes=["read", "write"])).token
                yield Stack(api, gateway.ws_url, token)
        finally:
            gateway.stop()
            os.environ.pop("BORGOS_WEBSOCKET_ENDPOINT", None)
            for name, value in saved.items():
                os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)
            reset_settings()
            jobs.redis_connection.cache_clear()


def _until(predicate: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # the worker is another process: poll with a deadline
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met before the deadline")


def test_a_project_created_through_the_api_reaches_the_socket_and_the_webhook(stack: Stack) -> None:
    with WebhookReceiver() as healthy, WebhookReceiver(default=Reply(status=410)) as leaving:
        healthy.reply_with(Reply(status=503))  # down for the first attempt, then up
        status, hook = stack.call(
            "POST", "/api/v1/webhooks", {"url": healthy.url(), "events": ["project.created"]}
        )
        assert status == 201
        status, gone_hook = stack.call(
            "POST", "/api/v1/webhooks", {"url": leaving.url(), "events": ["project.*"]}
        )
        assert status == 201
        with connect(f"{stack.ws_url}?token={stack.token}", open_timeout=10) as ws:
            subscribe(ws, ["projects"])
            status, project = stack.call("POST", "/api/v1/projects", {"name": "NewProject", "path": "/p/new"})
            assert status == 201
            event = recv(ws, timeout=20)
            assert (event["type"], event["data"]["id"], event["data"]["name"]) == (
                "project_created",
                project["id"],
                "NewProject",
            )
            assert event["channel"] == "projects" and event["seq"] >= 1
            assert_nothing_more(ws)

        # The first attempt met a 503; the scheduled retry (about 5 s later) succeeds, same webhook-id.
        first, second = healthy.wait_for(2, timeout=30)
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        payload = Webhook(hook["secret"]).verify(second.body, second.headers)
        assert payload["type"] == "project.created" and payload["data"]["name"] == "NewProject"
        attempts = _until(lambda: _attempts(stack, hook["id"], 2))
        assert [(a["attempt"], a["status_code"], a["outcome"]) for a in attempts] == [
            (2, 200, "success"),
            (1, 503, "retry"),
        ]

        # 410 disabled the other endpoint: it gets nothing more.
        leaving.wait_for(1)
        _until(lambda: stack.call("GET", f"/api/v1/webhooks/{gone_hook['id']}")[1]["enabled"] is False)
        stack.call("POST", "/api/v1/projects", {"name": "Second", "path": "/p/second"})
        third = healthy.wait_for(3, timeout=20)[2]
        assert json.loads(third.body)["data"]["name"] == "Second"
        assert len(leaving.requests) == 1
        assert len({r.headers["webhook-id"] for r in healthy.requests}) == 2


def _attempts(stack: Stack, hook_id: int, count: int) -> list[dict[str, Any]] | None:
    status, attempts = stack.call("GET", f"/api/v1/webhooks/{hook_id}/deliveries")
    return attempts if status == 200 and len(attempts) >= count else None
