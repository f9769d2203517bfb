"""Agents on the real local stack: the official MCP client connects to `/mcp` of `chalice local`,
lists and calls tools, is refused a deploy tool with a read-only token, and queues an agent task
that the stack's worker runs (through the table stream and RQ)."""

from __future__ import annotations

import time
from typing import Any

import httpx
from mcp import ClientSession
from mcp.types import CallToolResult

from tests.support.local_stack import LocalStack
from tests.support.mcp_client import payload, with_session


def test_mcp_client_on_the_local_stack_runs_tools_and_an_agent_task(
    local_stack: LocalStack, api: httpx.Client
) -> None:
    mcp_url = f"{local_stack.api_url}/mcp"
    assert api.post("/api/v1/projects", json={"name": "mcp-demo", "path": "/srv/mcp-demo"}).status_code == 201
    check = {
        "agent_type": "http-check",
        "description": "Is the API up?",
        "priority": 1,
        "input_data": {"url": f"{local_stack.api_url}/health"},
    }

    async def work(session: ClientSession) -> tuple[Any, CallToolResult, CallToolResult]:
        tools = await session.list_tools()
        listed = await session.call_tool("list_projects", {})
        created = await session.call_tool("create_agent_task", check)
        return tools, listed, created

    tools, listed, created = with_session(mcp_url, local_stack.token, work)
    assert {"list_projects", "deploy_project", "create_agent_task"} <= {tool.name for tool in tools.tools}
    assert "mcp-demo" in [p["name"] for p in payload(listed)]
    task_id = payload(created)["task_id"]

    deadline = time.monotonic() + 60
    while True:
        task = api.get(f"/api/v1/agent/tasks/{task_id}").json()
        if task["status"] in ("completed", "failed", "cancelled"):
            break
        assert time.monotonic() < deadline, f"the worker did not finish the task: {task}"
        time.sleep(0.2)
    assert task["status"] == "completed", task
    assert task["output"]["status_code"] == 200


def test_a_read_only_token_is_refused_deploy_tools_on_the_stack(
    local_stack: LocalStack, api: httpx.Client
) -> None:
    issued = api.post("/api/v1/tokens", json={"name": "mcp-reader", "scopes": ["read"]})
    assert issued.status_code == 201, issued.text
    reader = issued.json()["token"]
    result = with_session(
        f"{local_stack.api_url}/mcp",
        reader,
        lambda s: s.call_tool("deploy_project", {"project_id": 1, "port": 8095}),
    )
    assert result.is_error and payload(result)["error"] == "INSUFFICIENT_SCOPE"
    refused = api.get("/api/v1/audit", params={"action": "mcp.tool_call"}).json()
    assert any(e["outcome"] == "refused" and e["arguments"]["tool"] == "deploy_project" for e in refused)
