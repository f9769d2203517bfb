"""The MCP REST surface: the tool list, tool queries, natural-language queries against a recorded
provider exchange, LLM budgets and costs, and the audit of every tool call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chalicelib.store import keys
from chalicelib.store.table import get_store
from tests.unit.conftest import Caller, body, issue

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
PROJECT = {"name": "MyWebApp", "path": "/projects/mywebapp", "tech_stack": ["python", "django"]}
TOOLS = {
    "list_projects",
    "get_project",
    "create_project",
    "scan_project",
    "deploy_project",
    "stop_deployment",
    "list_deployments",
    "get_deployment_logs",
    "list_errors",
    "search_code",
    "create_agent_task",
    "list_agent_tasks",
    "get_agent_task",
}


def stored(tenant: str, prefix: str) -> list[dict[str, Any]]:
    return get_store().query_page(pk=keys.tenant_pk(tenant), sk_prefix=prefix, limit=500).items


def audit_log(caller: Caller) -> list[dict[str, Any]]:
    return body(caller.get("/api/v1/audit?action=mcp.tool_call"))


def test_tools_are_listed_in_the_reference_shape(alice: Caller) -> None:
    listed = body(alice.get("/api/v1/mcp/tools"))
    assert {tool["name"] for tool in listed["tools"]} == TOOLS
    by_name = {tool["name"]: tool for tool in listed["tools"]}
    assert by_name["list_projects"]["description"] == "List all projects in the system"
    assert by_name["deploy_project"] == {
        "name": "deploy_project",
        "description": "Deploy a project to a specific port",
        "parameters": ["project_id", "port", "name"],
    }


def test_a_tool_query_runs_the_tool_and_is_audited(alice: Caller) -> None:
    alice.post("/api/v1/projects", PROJECT)
    response = alice.post(
        "/api/v1/mcp/query", {"query_type": "tool", "tool": "get_project", "arguments": {"project_id": 1}}
    )
    assert response.status_code == 200
    reply = body(response)
    assert reply["tool"] == "get_project" and reply["tokens_used"] == 0 and reply["model"] is None
    assert reply["result"]["name"] == "MyWebApp"
    (entry,) = audit_log(alice)
    assert entry["outcome"] == "ok" and entry["arguments"] == {
        "tool": "get_project",
        "arguments": {"project_id": 1},
    }
    assert entry["result"]["id"] == 1


def test_tool_results_never_carry_secrets(alice: Caller) -> None:
    alice.post("/api/v1/projects", {**PROJECT, "metadata": {"DB_PASSWORD": "hunter2hunter2", "region": "eu"}})
    reply = body(
        alice.post(
            "/api/v1/mcp/query", {"query_type": "tool", "tool": "get_project", "arguments": {"project_id": 1}}
        )
    )
    assert reply["result"]["metadata"] == {"DB_PASSWORD": "********", "region": "eu"}
    assert "hunter2hunter2" not in json.dumps(audit_log(alice))


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ({"query_type": "tool", "tool": "nope"}, 404, "NOT_FOUND"),
        (
            {"query_type": "tool", "tool": "get_project", "arguments": {"project_id": 0}},
            400,
            "VALIDATION_ERROR",
        ),
        ({"query_type": "tool", "tool": "get_project", "arguments": {"project_id": 99}}, 404, "NOT_FOUND"),
        ({"query_type": "natural", "tool": "get_project"}, 400, "VALIDATION_ERROR"),
        ({"query_type": "tool"}, 400, "VALIDATION_ERROR"),
        ({"query_type": "sql", "query": "x"}, 400, "VALIDATION_ERROR"),
    ],
)
def test_bad_queries_are_refused(alice: Caller, query: dict[str, Any], status: int, code: str) -> None:
    response = alice.post("/api/v1/mcp/query", query)
    assert response.status_code == status and body(response)["code"] == code


def test_a_read_only_token_is_refused_lifecycle_tools_and_the_refusal_is_audited(
    client: Any, alice: Caller
) -> None:
    reader = Caller(client, issue("alice", ["read"]))
    task = {"agent_type": "http-check", "description": "up?", "input_data": {"url": "https://example.com"}}
    for tool, arguments in [("deploy_project", {"project_id": 1, "port": 8090}), ("create_agent_task", task)]:
        response = reader.post(
            "/api/v1/mcp/query", {"query_type": "tool", "tool": tool, "arguments": arguments}
        )
        assert response.status_code == 403 and body(response)["code"] == "INSUFFICIENT_SCOPE"
    assert stored("alice", "TASK#") == []
    assert [e["outcome"] for e in audit_log(alice)] == ["refused", "refused"]


def test_create_agent_task_through_a_tool(alice: Caller) -> None:
    task = {"agent_type": "http-check", "description": "up?", "input_data": {"url": "https://example.com"}}
    reply = body(
        alice.post(
            "/api/v1/mcp/query", {"query_type": "tool", "tool": "create_agent_task", "arguments": task}
        )
    )
    assert reply["result"] == {"message": "Task created and queued", "task_id": 1}
    assert body(alice.get("/api/v1/agent/tasks/1"))["agent_type"] == "http-check"
    listed = body(alice.post("/api/v1/mcp/query", {"query_type": "tool", "tool": "list_agent_tasks"}))
    assert [t["id"] for t in listed["result"]] == [1]


def test_a_domain_module_missing_from_the_build_is_unavailable() -> None:
    from chalicelib.mcp.tools import translate

    error = translate(ModuleNotFoundError("gone", name="chalicelib.search"))
    assert error is not None and error.code == "UNAVAILABLE"
    assert translate(ModuleNotFoundError("gone", name="numpy")) is None  # not ours: a real bug


# Natural language -----------------------------------------------------------------------------------


def test_without_a_provider_natural_language_is_503(alice: Caller, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BORGOS_LLM_BASE_URL", raising=False)
    monkeypatch.delenv("BORGOS_LLM_MODEL", raising=False)
    response = alice.post("/api/v1/mcp/query", {"query_type": "tool", "query": "List all Python files"})
    assert response.status_code == 503 and body(response)["code"] == "LLM_NOT_CONFIGURED"
    assert stored("alice", "USAGE#") == []


class Replay:
    """Serves the recorded provider answers in order, checking each request against its recording."""

    def __init__(self, recording: dict[str, Any]) -> None:
        self.recording = recording
        self.sent: list[dict[str, Any]] = []
        self.position = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        exchanges = self.recording["exchanges"]
        recorded = exchanges[self.position % len(exchanges)]
        self.position += 1
        expected = recorded["request"]
        sent = json.loads(request.content)
        self.sent.append(sent)
        assert request.method == expected["method"] and str(request.url) == expected["url"]
        for name, value in expected["headers"].items():
            assert request.headers.get(name) == value, name
        assert sent["model"] == expected["model"] and sent["tool_choice"] == expected["tool_choice"]
        assert [m["role"] for m in sent["messages"]] == expected["roles"]
        if "user_content" in expected:
            assert sent["messages"][1]["content"] == expected["user_content"]
        if "tool_call_id" in expected:
            assert sent["messages"][-1]["tool_call_id"] == expected["tool_call_id"]
        response = recorded["response"]
        return httpx.Response(response["status"], headers=response["headers"], json=response["json"])


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[Replay]:
    from chalicelib import mcp_query
    from chalicelib.llm.openai_compat import OpenAICompatClient

    recording = json.loads((RECORDED / "llm_mcp_query.json").read_text())
    config = recording["config"]
    monkeypatch.setenv("BORGOS_LLM_BASE_URL", config["base_url"])
    monkeypatch.setenv("BORGOS_LLM_MODEL", config["model"])
    monkeypatch.setenv("BORGOS_LLM_API_KEY", config["api_key"])
    replay = Replay(recording)
    monkeypatch.setattr(
        mcp_query,
        "llm_client",
        lambda cfg: OpenAICompatClient(cfg, httpx.Client(transport=httpx.MockTransport(replay))),
    )
    yield replay


def test_natural_language_answers_in_the_reference_shape(alice: Caller, provider: Replay) -> None:
    alice.post("/api/v1/projects", PROJECT)
    response = alice.post("/api/v1/mcp/query", provider.recording["query"])
    assert response.status_code == 200, body(response)
    assert body(response) == {
        "result": ["MyWebApp"],
        "tokens_used": 760,
        "model": "gpt-4o-mini-2024-07-18",
    }
    offered = {tool["function"]["name"] for tool in provider.sent[0]["tools"]}
    assert offered == TOOLS  # alice holds read, write and deploy
    tool_result = json.loads(provider.sent[1]["messages"][-1]["content"])
    assert [p["name"] for p in tool_result] == ["MyWebApp"]
    costs = body(alice.get("/api/v1/costs/today"))
    assert costs["requests"] == 1 and costs["total_tokens"] == 760
    assert costs["by_model"][0]["model"] == "gpt-4o-mini-2024-07-18"
    assert costs["total_cost_usd"] == 0.000128  # 730 prompt tokens at $0.15/M + 30 at $0.60/M, rounded up
    actions = [e["action"] for e in body(alice.get("/api/v1/audit"))]
    assert actions[:2] == ["mcp.query", "mcp.tool_call"]


def test_budget_alerts_then_refuses(alice: Caller, admin: Caller, client: Any, provider: Replay) -> None:
    ops = Caller(client, issue("alice", ["admin"]))
    limits = {"daily_limit_usd": 0.0002, "monthly_limit_usd": None, "alert_thresholds": [0.5]}
    assert (
        body(
            ops.client.http.request(
                "PUT",
                "/api/v1/settings/budget",
                body=json.dumps(limits).encode(),
                headers={"Authorization": f"Bearer {ops.token}", "Content-Type": "application/json"},
            )
        )
        == limits
    )
    query = provider.recording["query"]
    assert alice.post("/api/v1/mcp/query", query).status_code == 200  # 128 µUSD: past half of 200
    alerts = [e for e in stored("alice", "EVENT#") if e["type"] == "budget_alert"]
    assert [(a["name"], a["data"]["period"], a["data"]["threshold"]) for a in alerts] == [
        ("budget.alert", "daily", 0.5)
    ]
    assert alice.post("/api/v1/mcp/query", query).status_code == 200  # 256 µUSD now: over the limit
    calls = provider.position
    refused = alice.post("/api/v1/mcp/query", query)
    assert refused.status_code == 429 and body(refused)["code"] == "BUDGET_EXCEEDED"
    assert provider.position == calls  # nothing was sent to the provider
    status = body(alice.get("/api/v1/costs/today"))["budget"]
    assert status["daily_remaining_usd"] == 0 and status["daily_spent_usd"] == 0.000256


def test_budget_settings_validate_and_need_admin(alice: Caller, client: Any) -> None:
    ops = Caller(client, issue("alice", ["admin"]))
    assert body(alice.get("/api/v1/settings/budget")) == {
        "daily_limit_usd": None,
        "monthly_limit_usd": None,
        "alert_thresholds": [0.5, 0.8, 0.95],
    }

    def put(caller: Caller, payload: Any) -> Any:
        return caller.client.http.request(
            "PUT",
            "/api/v1/settings/budget",
            body=json.dumps(payload).encode(),
            headers={"Authorization": f"Bearer {caller.token}", "Content-Type": "application/json"},
        )

    assert put(alice, {"daily_limit_usd": 1}).status_code == 403
    assert put(ops, {"daily_limit_usd": -1}).status_code == 400
    assert put(ops, {"alertThresholds": [1.5]}).status_code == 400
    assert put(ops, {"surprise": 1}).status_code == 400
    assert stored("alice", "BUDGET") == []
    saved = body(put(ops, {"dailyLimit": 5, "monthlyLimit": 100, "alertThresholds": [0.9, 0.5]}))
    assert saved == {"daily_limit_usd": 5.0, "monthly_limit_usd": 100.0, "alert_thresholds": [0.5, 0.9]}
    assert body(alice.get("/api/v1/settings/budget")) == saved
