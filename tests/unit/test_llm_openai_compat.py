"""The OpenAI-compatible adapter against recorded chat-completions exchanges
(tests/fixtures/recorded/llm_*.json).

Each exchange is replayed with httpx.MockTransport: the request we send must equal the recorded one
(URL, auth header, model, messages with tool results and tool_call_ids, tools, tool_choice)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, Field

from chalicelib.llm.openai_compat import (
    LLMConfig,
    LLMNotConfigured,
    LLMProviderError,
    LLMStepLimitExceeded,
    LLMUnavailable,
    OpenAICompatClient,
)
from chalicelib.mcp.registry import ToolArgs, ToolContext, ToolRegistry, ToolSpec

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
READER = ToolContext(tenant="alice", scopes=frozenset({"read"}), request_id="req_llm")


class ListProjectsArgs(ToolArgs):
    active: bool | None = Field(default=None, description="Only active (true) or inactive (false) projects")


class GetProjectArgs(ToolArgs):
    project_id: int = Field(ge=1, description="The project id")


class ListFilesArgs(ToolArgs):
    project_id: int = Field(ge=1, description="The project id")
    glob: str = Field(default="*", description="Glob pattern relative to the project root")


class DeployProjectArgs(ToolArgs):
    project_id: int = Field(ge=1, description="The project id")
    port: int = Field(ge=1024, le=65535, description="Host port to publish")


PROJECTS = [
    {
        "id": 1,
        "name": "MyWebApp",
        "path": "/projects/mywebapp",
        "tech_stack": ["python", "django", "react"],
        "active": True,
    },
    {"id": 2, "name": "api-service", "path": "/projects/api-service", "tech_stack": ["go"], "active": True},
]


def _get_project(ctx: ToolContext, args: BaseModel) -> dict[str, Any]:
    assert isinstance(args, GetProjectArgs)
    project = dict(next(p for p in PROJECTS if p["id"] == args.project_id))
    project.pop("active")
    project["environment"] = {
        "DATABASE_URL": "postgres://app:hunter2hunter2@db.internal:5432/mywebapp",
        "SECRET_KEY": "dj-4f9a8b7c6d5e4f3a",
        "DEBUG": "false",
    }
    return project


def make_registry(deployed: list[int]) -> ToolRegistry:
    def deploy(ctx: ToolContext, args: BaseModel) -> dict[str, Any]:
        assert isinstance(args, DeployProjectArgs)
        deployed.append(args.project_id)
        return {"deployed": True}

    reg = ToolRegistry()
    reg.register(
        ToolSpec(
            "list_projects",
            "List all projects in the system",
            ListProjectsArgs,
            "read",
            lambda ctx, args: [p for p in PROJECTS if args.active in (None, p["active"])],
        )
    )
    reg.register(
        ToolSpec(
            "get_project", "Get one project with its configuration", GetProjectArgs, "read", _get_project
        )
    )
    reg.register(
        ToolSpec(
            "list_files",
            "List the files of a project matching a glob",
            ListFilesArgs,
            "read",
            lambda ctx, args: ["main.py", "utils.py", "models.py", "tests/test_main.py"],
        )
    )
    reg.register(
        ToolSpec(
            "deploy_project",
            "Deploy a project to a specific port",
            DeployProjectArgs,
            "deploy",
            deploy,
        )
    )
    return reg


@pytest.fixture
def registry() -> ToolRegistry:
    return make_registry([])


class Replay:
    """Serves recorded exchanges in order and checks that each request matches its recording."""

    def __init__(self, exchanges: list[dict[str, Any]]) -> None:
        self._pending: Iterator[dict[str, Any]] = iter(exchanges)
        self.remaining = len(exchanges)
        self.sent_bodies: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        recorded = next(self._pending, None)
        assert recorded is not None, f"unexpected extra request: {request.method} {request.url}"
        self.remaining -= 1
        expected = recorded["request"]
        assert request.method == expected["method"]
        assert str(request.url) == expected["url"]
        for name, value in expected["headers"].items():
            assert request.headers.get(name) == value, name
        body = request.content.decode()
        self.sent_bodies.append(body)
        assert json.loads(body) == expected["json"]
        response = recorded["response"]
        return httpx.Response(response["status"], headers=response.get("headers", {}), json=response["json"])


def _load(name: str) -> tuple[dict[str, Any], Replay, OpenAICompatClient]:
    recording = json.loads((RECORDED / name).read_text())
    replay = Replay(recording["exchanges"])
    config = LLMConfig(**recording["config"])
    client = OpenAICompatClient(config, httpx.Client(transport=httpx.MockTransport(replay)))
    return recording, replay, client


def test_tool_loop_runs_tools_and_sums_tokens(registry: ToolRegistry) -> None:
    recording, replay, client = _load("llm_tool_loop.json")

    answer = client.answer(recording["query"], registry, READER)

    assert replay.remaining == 0
    assert answer.result == [{"name": "MyWebApp", "database_host": "db.internal:5432"}]
    assert answer.tokens_used == 247 + 385 + 531
    assert answer.usage.prompt_tokens == 231 + 367 + 512
    assert answer.usage.completion_tokens == 16 + 18 + 19
    assert answer.model == "gpt-4o-mini-2024-07-18"
    assert answer.steps == 3
    assert answer.reference_body() == {"result": answer.result, "tokens_used": 1163, "model": answer.model}


def test_provider_never_sees_secret_values_from_tools(registry: ToolRegistry) -> None:
    recording, replay, client = _load("llm_tool_loop.json")

    client.answer(recording["query"], registry, READER)

    everything_sent = "".join(replay.sent_bodies)
    assert "hunter2hunter2" not in everything_sent
    assert "dj-4f9a8b7c6d5e4f3a" not in everything_sent
    assert "postgres://app:********@db.internal:5432/mywebapp" in everything_sent


def test_only_tools_the_caller_may_use_are_offered(registry: ToolRegistry) -> None:
    recording, _, client = _load("llm_tool_loop.json")
    offered = [tool["function"]["name"] for tool in recording["exchanges"][0]["request"]["json"]["tools"]]

    client.answer(recording["query"], registry, READER)  # the replay asserts we sent exactly these

    assert "deploy_project" not in offered
    assert offered == [spec.name for spec in registry.allowed(READER.scopes)]


def test_refused_tool_calls_are_fed_back_and_nothing_runs() -> None:
    deployed: list[int] = []
    registry = make_registry(deployed)  # deploy_project exists, but READER lacks 'deploy'
    recording, replay, client = _load("llm_tool_errors.json")

    answer = client.answer(recording["query"], registry, READER)

    assert replay.remaining == 0  # so the refusals went back to the model exactly as recorded
    assert isinstance(answer.result, str) and "deploy" in answer.result
    assert answer.tokens_used == 281 + 433
    assert deployed == []


def test_last_step_forbids_tools_and_fenced_json_is_parsed(registry: ToolRegistry) -> None:
    recording, replay, client = _load("llm_step_limit.json")

    answer = client.answer(recording["query"], registry, READER, context=recording["context"])

    assert replay.remaining == 0
    assert answer.result == ["main.py", "utils.py", "models.py", "tests/test_main.py"]
    assert answer.steps == 2
    assert answer.tokens_used == 325 + 399


def test_rejected_key_is_a_provider_error_without_the_key(registry: ToolRegistry) -> None:
    recording, _, client = _load("llm_error_invalid_key.json")

    with pytest.raises(LLMProviderError) as caught:
        client.answer(recording["query"], registry, READER)

    assert caught.value.status_code == 401
    assert caught.value.provider_code == "invalid_api_key"
    assert "Incorrect API key provided" in caught.value.message
    assert recording["config"]["api_key"] not in caught.value.message


def test_rate_limit_carries_retry_after(registry: ToolRegistry) -> None:
    recording, _, client = _load("llm_error_rate_limited.json")

    with pytest.raises(LLMProviderError) as caught:
        client.answer(recording["query"], registry, READER)

    assert caught.value.status_code == 429
    assert caught.value.retry_after == "20"
    assert caught.value.provider_code == "rate_limit_exceeded"


def test_failure_mid_loop_reports_tokens_already_spent(registry: ToolRegistry) -> None:
    recording, replay, client = _load("llm_error_midloop.json")

    with pytest.raises(LLMProviderError) as caught:
        client.answer(recording["query"], registry, READER)

    assert replay.remaining == 0
    assert caught.value.status_code == 500
    assert caught.value.usage.total_tokens == 247
    assert caught.value.model == "gpt-4o-mini-2024-07-18"


def _completion(message: dict[str, Any], total: int = 10) -> dict[str, Any]:
    return {
        "id": "chatcmpl-x",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": total - 2, "completion_tokens": 2, "total_tokens": total},
    }


def _client(handler: Any, **config: Any) -> OpenAICompatClient:
    settings = LLMConfig(base_url="http://llm.test/v1", model="gpt-4o-mini", **config)
    return OpenAICompatClient(settings, httpx.Client(transport=httpx.MockTransport(handler)))


def test_model_still_calling_tools_on_the_last_step_is_an_error(registry: ToolRegistry) -> None:
    tool_call = {"id": "call_1", "type": "function", "function": {"name": "list_projects", "arguments": "{}"}}
    client = _client(
        lambda request: httpx.Response(200, json=_completion({"content": None, "tool_calls": [tool_call]})),
        max_steps=2,
    )

    with pytest.raises(LLMStepLimitExceeded) as caught:
        client.answer("loop forever", registry, READER)

    assert caught.value.usage.total_tokens == 20


def test_tools_are_omitted_when_the_caller_may_use_none(registry: ToolRegistry) -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=_completion({"content": "Nothing I can look up for you."}))

    nobody = ToolContext(tenant="alice", scopes=frozenset(), request_id="req_0")
    answer = _client(handler).answer("hi", registry, nobody)

    assert "tools" not in bodies[0] and "tool_choice" not in bodies[0]
    assert answer.result == "Nothing I can look up for you."


def test_no_key_means_no_authorization_header(registry: ToolRegistry) -> None:
    seen: list[httpx.Headers] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200, json=_completion({"content": "ok"}))

    _client(handler).answer("hi", registry, READER)

    assert "authorization" not in seen[0]


def test_body_that_is_not_a_completion_is_a_provider_error(registry: ToolRegistry) -> None:
    client = _client(lambda request: httpx.Response(200, text="<html>proxy login</html>"))

    with pytest.raises(LLMProviderError) as caught:
        client.answer("hi", registry, READER)

    assert caught.value.status_code == 200


def test_timeout_is_unavailable(registry: ToolRegistry) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(LLMUnavailable, match="did not answer within"):
        _client(handler, timeout_s=3).answer("hi", registry, READER)


def test_unreachable_provider_is_unavailable(registry: ToolRegistry) -> None:
    # A bound socket that never listens: connecting to it is refused, and nobody else can take the port.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        client = OpenAICompatClient(LLMConfig(base_url=f"http://127.0.0.1:{port}/v1", model="gpt-4o-mini"))

        with pytest.raises(LLMUnavailable, match="cannot be reached") as caught:
            client.answer("hi", registry, READER)

    assert caught.value.code == "DEPENDENCY_UNAVAILABLE"


@pytest.mark.parametrize(
    "environ",
    [{}, {"BORGOS_LLM_BASE_URL": "https://api.openai.com/v1"}, {"BORGOS_LLM_MODEL": "gpt-4o-mini"}],
)
def test_missing_configuration_is_refused(environ: dict[str, str]) -> None:
    config = LLMConfig.from_env(environ)

    with pytest.raises(LLMNotConfigured) as caught:
        OpenAICompatClient(config)

    assert caught.value.code == "LLM_NOT_CONFIGURED"


def test_configuration_from_environment() -> None:
    config = LLMConfig.from_env(
        {
            "BORGOS_LLM_BASE_URL": "http://127.0.0.1:11434/v1",
            "BORGOS_LLM_MODEL": "llama3.1",
            "BORGOS_LLM_MAX_STEPS": "3",
        }
    )

    assert config.configured and config.api_key is None and config.max_steps == 3
    assert OpenAICompatClient(config).model == "llama3.1"
