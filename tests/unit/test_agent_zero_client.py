"""The Agent Zero adapter against recorded exchanges of its HTTP API
(tests/fixtures/recorded/agent_zero_*.json), plus a real closed port for the unreachable case."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from workers.agent_zero import (
    DEFAULT_URL,
    AgentZeroClient,
    AgentZeroConfig,
    AgentZeroError,
    AgentZeroTask,
    AgentZeroUnavailable,
    Attachment,
    run_task,
)

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"


def recording(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((RECORDED / name).read_text())
    return loaded


class Replay:
    """Serves recorded exchanges in order and checks that each request matches its recording."""

    def __init__(self, exchanges: list[dict[str, Any]]) -> None:
        self._pending: Iterator[dict[str, Any]] = iter(exchanges)
        self.remaining = len(exchanges)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        recorded = next(self._pending, None)
        assert recorded is not None, f"unexpected extra request: {request.method} {request.url}"
        self.remaining -= 1
        expected = recorded["request"]
        assert request.method == expected["method"]
        assert str(request.url) == expected["url"]
        for name, value in expected["headers"].items():
            assert request.headers.get(name) == value, name
        if expected["json"] is not None:
            assert json.loads(request.content) == expected["json"]
        response = recorded["response"]
        if "json" in response:
            return httpx.Response(response["status"], headers=response["headers"], json=response["json"])
        return httpx.Response(response["status"], headers=response["headers"], text=response["text"])


def replaying(rec: dict[str, Any], exchanges: list[dict[str, Any]]) -> tuple[AgentZeroClient, Replay]:
    replay = Replay(exchanges)
    client = AgentZeroClient(
        rec["base_url"], rec.get("api_key"), httpx.Client(transport=httpx.MockTransport(replay))
    )
    return client, replay


def test_task_is_sent_as_a_new_chat_and_the_reply_returned() -> None:
    rec = recording("agent_zero_message_new_context.json")
    client, replay = replaying(rec, rec["exchanges"])

    reply = run_task(AgentZeroTask.model_validate(rec["task"]), client)

    assert replay.remaining == 0
    assert reply.context_id == "Xk3P9qLm"
    assert reply.response.startswith("I wrote /a0/usr/workdir/log_summary.py")


def test_follow_up_reuses_the_context_and_sends_attachments() -> None:
    rec = recording("agent_zero_message_continue.json")
    client, replay = replaying(rec, rec["exchanges"])
    log = b"2024-01-15T10:30:00Z ERROR Database connection failed\n"

    reply = client.send_message(
        "Run the script on this log as well.",
        context_id="Xk3P9qLm",
        attachments=[Attachment.from_bytes("app.log", log)],
        lifetime_hours=2,
    )

    assert replay.remaining == 0
    assert reply.context_id == "Xk3P9qLm"
    assert "DatabaseConnectionError" in reply.response


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("wrong_key", 401, "Agent Zero refused the API key (X-API-KEY)"),
        ("unknown_context", 404, "Agent Zero answered HTTP 404: Context not found"),
        ("agent_failure", 500, "Agent Zero answered HTTP 500: litellm.AuthenticationError"),
        ("handler_crash", 500, "Agent Zero answered HTTP 500: Traceback"),
    ],
)
def test_error_answers_become_agent_zero_errors(case: str, status: int, message: str) -> None:
    rec = recording("agent_zero_errors.json")
    exchange = rec["cases"][case]
    api_key = exchange["request"]["headers"]["x-api-key"]
    replay = Replay([exchange])
    client = AgentZeroClient(rec["base_url"], api_key, httpx.Client(transport=httpx.MockTransport(replay)))
    body = exchange["request"]["json"]

    with pytest.raises(AgentZeroError) as caught:
        client.send_message(body["message"], context_id=body.get("context_id"))

    assert replay.remaining == 0
    assert caught.value.status_code == status
    assert caught.value.message.startswith(message)


def test_health_of_a_running_instance() -> None:
    rec = recording("agent_zero_health.json")
    client, replay = replaying(rec, rec["exchanges"])

    health = client.probe()

    assert replay.remaining == 0
    assert health.reachable and health.version == "M v0.8.5-12" and health.error is None


def test_health_is_true_only_for_a_healthy_answer() -> None:
    rec = recording("agent_zero_health.json")
    client, _ = replaying(rec, rec["exchanges"])
    assert client.health() is True

    failing = AgentZeroClient(
        DEFAULT_URL, None, httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(502)))
    )
    assert failing.health() is False
    assert failing.probe().error == "GET /health answered HTTP 502"


def test_success_status_without_the_reply_shape_is_an_error() -> None:
    client = AgentZeroClient(
        DEFAULT_URL,
        "k",
        httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, text="<html>"))),
    )

    with pytest.raises(AgentZeroError) as caught:
        client.send_message("hello")

    assert caught.value.status_code == 200


def test_empty_message_is_refused_without_a_request() -> None:
    def never(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request may be sent")

    client = AgentZeroClient(DEFAULT_URL, "k", httpx.Client(transport=httpx.MockTransport(never)))

    with pytest.raises(ValueError):
        client.send_message("   ")


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A bound socket that never listens: connections are refused and nobody else can take the port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_unreachable_agent_zero_is_reported_as_unavailable(closed_port: int) -> None:
    client = AgentZeroClient(f"http://127.0.0.1:{closed_port}", "k")

    with pytest.raises(AgentZeroUnavailable) as caught:
        client.send_message("hello")

    assert f"127.0.0.1:{closed_port}" in str(caught.value)
    assert "connection refused" in str(caught.value)


def test_unreachable_agent_zero_is_not_healthy(closed_port: int) -> None:
    client = AgentZeroClient(f"http://127.0.0.1:{closed_port}", "k")

    health = client.probe()

    assert not health.reachable and health.error == "connection refused or host unknown"
    assert client.health() is False


def test_timeout_is_unavailable() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client = AgentZeroClient(DEFAULT_URL, "k", httpx.Client(transport=httpx.MockTransport(slow)))

    with pytest.raises(AgentZeroUnavailable, match="no answer in time"):
        client.send_message("hello")


def test_configuration_from_environment() -> None:
    assert AgentZeroConfig.from_env({}) == AgentZeroConfig(base_url="http://127.0.0.1:8085", api_key=None)
    config = AgentZeroConfig.from_env(
        {"BORGOS_AGENT_ZERO_URL": "http://a0:80", "BORGOS_AGENT_ZERO_API_KEY": "s"}
    )
    assert AgentZeroClient.from_config(config).base_url == "http://a0:80"


def test_task_message_without_prompt_uses_the_description() -> None:
    task = AgentZeroTask(type="automation", description="Monitor system logs and alert on errors")

    assert task.to_message() == "Monitor system logs and alert on errors\n\nTask type: automation"


@pytest.mark.parametrize(
    "body",
    [
        {"description": "x"},
        {"type": "code_execution", "description": ""},
        {"type": "t", "description": "d", "extra": 1},
    ],
)
def test_bad_task_bodies_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AgentZeroTask.model_validate(body)
