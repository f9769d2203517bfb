"""The MCP endpoint, exercised by the official MCP Python client over real HTTP.

A tiny threaded HTTP server stands in for the Chalice route: it resolves the bearer token to a
ToolContext (as the lead's route will) and hands the request to McpEndpoint.handle, the same
synchronous call the route makes in Lambda."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession
from pydantic import BaseModel, Field

from chalicelib.mcp.asgi_bridge import HttpRequest, run_asgi
from chalicelib.mcp.registry import ToolArgs, ToolContext, ToolRegistry, ToolSpec
from chalicelib.mcp.scrub import MASK
from chalicelib.mcp.server import McpEndpoint
from tests.support.mcp_client import payload, serve_mcp, text_of, with_session

TOKENS = {
    "tok-reader": ToolContext(tenant="alice", scopes=frozenset({"read"}), request_id="", token_id=1),
    "tok-deployer": ToolContext(
        tenant="bob", scopes=frozenset({"read", "deploy"}), request_id="", token_id=2
    ),
}


class NoArgs(ToolArgs):
    pass


class ProjectArgs(ToolArgs):
    project_id: int = Field(ge=1, description="The project id")


class DeployArgs(ToolArgs):
    project_id: int = Field(ge=1, description="The project id")
    port: int = Field(ge=1024, le=65535, description="Host port to publish")


@pytest.fixture
def deployments() -> list[tuple[str, int, int]]:
    return []


@pytest.fixture
def registry(deployments: list[tuple[str, int, int]]) -> ToolRegistry:
    def deploy(ctx: ToolContext, args: BaseModel) -> dict[str, Any]:
        assert isinstance(args, DeployArgs)
        deployments.append((ctx.tenant, args.project_id, args.port))
        return {"message": f"Deployment created on port {args.port}", "id": len(deployments)}

    def get_project(ctx: ToolContext, args: BaseModel) -> dict[str, Any]:
        assert isinstance(args, ProjectArgs)
        return {
            "id": args.project_id,
            "owner": ctx.tenant,
            "token_id": ctx.token_id,
            "environment": {"DB_PASSWORD": "hunter2hunter2", "NODE_ENV": "production"},
        }

    def broken(ctx: ToolContext, args: BaseModel) -> None:
        raise RuntimeError("connection string postgres://x:y@z leaked in a traceback")

    reg = ToolRegistry()
    reg.register(
        ToolSpec("list_projects", "List all projects in the system", NoArgs, "read", lambda c, a: [])
    )
    reg.register(ToolSpec("get_project", "Get one project", ProjectArgs, "read", get_project))
    reg.register(
        ToolSpec("deploy_project", "Deploy a project to a specific port", DeployArgs, "deploy", deploy)
    )
    reg.register(ToolSpec("broken_tool", "Always fails", NoArgs, "read", broken))
    return reg


@pytest.fixture
def endpoint(registry: ToolRegistry) -> McpEndpoint:
    return McpEndpoint(registry)


@pytest.fixture
def mcp_url(endpoint: McpEndpoint) -> Iterator[str]:
    counter = iter(range(1, 1_000_000))

    def answer(
        method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        auth = dict((k.lower(), v) for k, v in headers).get("authorization", "")
        principal = TOKENS.get(auth.removeprefix("Bearer "))
        if principal is None:
            return 401, [("content-type", "application/json")], b'{"code": "UNAUTHORIZED"}'
        ctx = ToolContext(principal.tenant, principal.scopes, f"req_{next(counter)}", principal.token_id)
        response = endpoint.handle(HttpRequest(method, path, headers, body), ctx)
        return response.status, response.headers, response.body

    with serve_mcp(answer) as url:
        yield url


@pytest.mark.parametrize("modern", [False, True], ids=["handshake", "modern"])
def test_tools_are_listed_with_their_json_schemas(mcp_url: str, registry: ToolRegistry, modern: bool) -> None:
    listed = with_session(mcp_url, "tok-reader", lambda s: s.list_tools(), modern=modern)

    assert [tool.name for tool in listed.tools] == [
        "list_projects",
        "get_project",
        "deploy_project",
        "broken_tool",
    ]
    for tool in listed.tools:
        assert tool.input_schema == registry.json_schema(tool.name)
        assert tool.description == registry.get(tool.name).description
    assert {tool.name: tool.annotations.read_only_hint for tool in listed.tools if tool.annotations} == {
        "list_projects": True,
        "get_project": True,
        "deploy_project": False,
        "broken_tool": True,
    }


@pytest.mark.parametrize("modern", [False, True], ids=["handshake", "modern"])
def test_tool_call_runs_as_the_token_s_principal_without_secrets(mcp_url: str, modern: bool) -> None:
    result = with_session(
        mcp_url, "tok-reader", lambda s: s.call_tool("get_project", {"project_id": 3}), modern=modern
    )

    expected = {
        "id": 3,
        "owner": "alice",
        "token_id": 1,
        "environment": {"DB_PASSWORD": MASK, "NODE_ENV": "production"},
    }
    assert not result.is_error
    assert payload(result) == expected
    assert result.structured_content == {"result": expected}


@pytest.mark.parametrize("modern", [False, True], ids=["handshake", "modern"])
def test_tool_needing_a_missing_scope_is_refused_as_a_tool_error(
    mcp_url: str, deployments: list[Any], modern: bool
) -> None:
    result = with_session(
        mcp_url,
        "tok-reader",
        lambda s: s.call_tool("deploy_project", {"project_id": 1, "port": 8090}),
        modern=modern,
    )

    assert result.is_error
    body = payload(result)
    assert body["error"] == "INSUFFICIENT_SCOPE"
    assert body["request_id"].startswith("req_")
    assert deployments == []


def test_token_with_the_scope_may_deploy(mcp_url: str, deployments: list[Any]) -> None:
    result = with_session(
        mcp_url, "tok-deployer", lambda s: s.call_tool("deploy_project", {"project_id": 1, "port": 8090})
    )

    assert not result.is_error
    assert payload(result) == {"message": "Deployment created on port 8090", "id": 1}
    assert deployments == [("bob", 1, 8090)]


@pytest.mark.parametrize(
    ("name", "arguments", "code"),
    [
        ("get_project", {"project_id": "three"}, "VALIDATION_ERROR"),
        ("get_project", {"project_id": 3, "extra": True}, "VALIDATION_ERROR"),
        ("drop_database", {}, "NOT_FOUND"),
    ],
)
def test_bad_calls_are_tool_errors(mcp_url: str, name: str, arguments: dict[str, Any], code: str) -> None:
    result = with_session(mcp_url, "tok-deployer", lambda s: s.call_tool(name, arguments))

    assert result.is_error
    assert payload(result)["error"] == code


def test_a_failing_handler_reveals_nothing_but_the_request_id(mcp_url: str) -> None:
    result = with_session(mcp_url, "tok-reader", lambda s: s.call_tool("broken_tool", {}))

    assert result.is_error
    body = payload(result)
    assert body["error"] == "INTERNAL"
    assert "postgres" not in text_of(result)
    assert body["request_id"].startswith("req_")


def test_concurrent_calls_are_served_independently(mcp_url: str) -> None:
    async def many(session: ClientSession) -> list[Any]:
        results: dict[int, Any] = {}

        async def one(project_id: int) -> None:
            results[project_id] = payload(await session.call_tool("get_project", {"project_id": project_id}))

        async with anyio.create_task_group() as tg:
            for project_id in range(1, 7):
                tg.start_soon(one, project_id)
        return [results[i]["id"] for i in sorted(results)]

    assert with_session(mcp_url, "tok-reader", many) == [1, 2, 3, 4, 5, 6]


def test_get_is_405_since_stateless_mode_offers_no_stream(endpoint: McpEndpoint) -> None:
    response = endpoint.handle(
        HttpRequest("GET", "/mcp", {"accept": "text/event-stream"}), TOKENS["tok-reader"]
    )

    assert response.status == 405
    assert response.header("allow") == "POST, DELETE"


def test_delete_is_405_since_there_is_no_session(endpoint: McpEndpoint) -> None:
    response = endpoint.handle(HttpRequest("DELETE", "/mcp", {"mcp-session-id": "abc"}), TOKENS["tok-reader"])

    assert response.status == 405


def test_post_without_json_content_type_is_refused(endpoint: McpEndpoint) -> None:
    response = endpoint.handle(
        HttpRequest("POST", "/mcp", {"content-type": "text/plain", "accept": "application/json"}, b"{}"),
        TOKENS["tok-reader"],
    )

    assert response.status == 400


def test_a_tool_that_outlives_the_deadline_gets_a_504(registry: ToolRegistry) -> None:
    release = threading.Event()
    registry.register(
        ToolSpec("stuck_tool", "Never returns in time", NoArgs, "read", lambda c, a: release.wait(30))
    )
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "stuck_tool", "arguments": {}},
    }
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    try:
        response = McpEndpoint(registry).handle(
            HttpRequest("POST", "/mcp", headers, json.dumps(call).encode()),
            TOKENS["tok-reader"],
            timeout_s=0.3,
        )
    finally:
        release.set()

    assert response.status == 504
    assert "No answer within 0.3 s" in json.loads(response.body)["error"]["message"]


def test_bodies_over_one_mebibyte_are_refused(endpoint: McpEndpoint) -> None:
    headers = {"content-type": "application/json", "accept": "application/json"}
    body = b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'

    response = endpoint.handle(HttpRequest("POST", "/mcp", headers, body), TOKENS["tok-reader"])

    assert response.status == 413


def test_tool_call_without_an_authenticated_caller_is_refused(
    endpoint: McpEndpoint, deployments: list[Any]
) -> None:
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "deploy_project", "arguments": {"project_id": 1, "port": 8090}},
    }
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}

    # Straight to the ASGI app, with no caller in the scope state (a wiring mistake must fail closed).
    response = run_asgi(endpoint.asgi_app, HttpRequest("POST", "/mcp", headers, json.dumps(call).encode()))

    assert response.status == 200
    result = json.loads(response.body)["result"]
    assert result["isError"] is True
    assert json.loads(result["content"][0]["text"])["error"] == "UNAUTHORIZED"
    assert deployments == []


def test_importing_the_lambda_modules_loads_no_sdk() -> None:
    # Cold start is measured: mcp (and its starlette/anyio) and httpx load only when /mcp or an LLM is used.
    probe = (
        "import sys, chalicelib.mcp.server, chalicelib.llm.openai_compat, chalicelib.llm.budget;"
        "print(sorted(m for m in ('mcp', 'mcp_types', 'starlette', 'anyio', 'httpx') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]

    out = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"
