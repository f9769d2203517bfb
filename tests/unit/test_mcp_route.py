"""`/mcp` through the Chalice route over real HTTP, with the official MCP client (Streamable HTTP).

A small threaded HTTP server hands each request to the Chalice app (chalice's local gateway, as
`chalice local` does), so authentication, the route and the SDK run exactly as deployed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client
from mcp import ClientSession
from mcp.types import CallToolResult

from tests.support.mcp_client import payload, serve_mcp, with_session
from tests.unit.conftest import issue


@pytest.fixture
def mcp_url(client: Client) -> Iterator[str]:
    lock = threading.Lock()

    def answer(
        method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        with lock:  # one request at a time through the in-process gateway
            response = client.http.request(method, path, headers=dict(headers), body=body)
        return response.status_code, list(response.headers.items()), response.body

    with serve_mcp(answer) as url:
        yield url


def test_the_client_lists_tools_and_calls_them_as_the_token_s_tenant(mcp_url: str) -> None:
    from chalicelib.models.projects import ProjectCreate
    from chalicelib.projects import create_project
    from tests.unit.test_deployments_api import register_host

    create_project("alice", ProjectCreate(name="MyWebApp", path="/projects/mywebapp"))
    create_project("bob", ProjectCreate(name="BobsApp", path="/projects/bob"))
    register_host("alice", "local")
    token = issue("alice", ["read", "write", "deploy"])

    async def work(session: ClientSession) -> tuple[Any, CallToolResult, CallToolResult, CallToolResult]:
        tools = await session.list_tools()
        listed = await session.call_tool("list_projects", {})
        deployed = await session.call_tool("deploy_project", {"project_id": 1, "port": 8090})
        created = await session.call_tool(
            "create_agent_task",
            {"agent_type": "http-check", "description": "up?", "input_data": {"url": "https://example.com"}},
        )
        return tools, listed, deployed, created

    tools, listed, deployed, created = with_session(mcp_url, token, work, timeout=15)
    by_name = {tool.name: tool for tool in tools.tools}
    assert {"list_projects", "deploy_project", "create_agent_task", "search_code"} <= set(by_name)
    assert by_name["deploy_project"].input_schema["required"] == ["project_id", "port"]
    assert not listed.is_error
    assert [p["name"] for p in payload(listed)] == ["MyWebApp"]
    assert not deployed.is_error, payload(deployed)
    assert payload(deployed) == {"message": "Deployment created on port 8090", "id": 1}
    assert payload(created) == {"message": "Task created and queued", "task_id": 1}


def test_a_read_only_token_is_refused_deploy_tools(mcp_url: str) -> None:
    from chalicelib import audit

    token = issue("alice", ["read"])
    result = with_session(
        mcp_url, token, lambda s: s.call_tool("deploy_project", {"project_id": 1, "port": 8090}), timeout=15
    )
    assert result.is_error
    assert payload(result)["error"] == "INSUFFICIENT_SCOPE"
    entries, _, _ = audit.list_entries("alice", limit=10, action="mcp.tool_call")
    assert entries[0]["outcome"] == "refused"
    assert entries[0]["arguments"] == {"tool": "deploy_project", "arguments": {"project_id": 1, "port": 8090}}


def test_without_a_token_there_is_no_session(mcp_url: str, client: Client) -> None:
    import httpx

    response = httpx.post(
        mcp_url,
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Accept": "application/json, text/event-stream"},
    )
    assert response.status_code == 401 and response.json()["code"] == "UNAUTHORIZED"


def test_get_offers_no_stream_in_a_stateless_server(mcp_url: str) -> None:
    import httpx

    token = issue("alice", ["read"])
    response = httpx.get(mcp_url, headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"})
    assert response.status_code == 405 and response.headers["x-request-id"].startswith("req_")
