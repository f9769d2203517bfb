"""The lifecycle and search tools over the real deployments, scans and search modules, as an AI
client reaches them (`POST /api/v1/mcp/query` with a tool), with secrets kept out of results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chalicelib import deployments
from tests.unit.conftest import Caller, body
from tests.unit.scan_support import roots
from tests.unit.test_deployments_api import register_host, worker_moves
from tests.unit.test_search_api import scanned

__all__ = ["roots", "scanned"]


def tool(caller: Caller, name: str, **arguments: Any) -> Any:
    return caller.post("/api/v1/mcp/query", {"query_type": "tool", "tool": name, "arguments": arguments})


@pytest.fixture
def project(alice: Caller) -> None:
    register_host("alice", "local")
    assert (
        alice.post("/api/v1/projects", {"name": "MyProject", "path": "/projects/myproject"}).status_code
        == 201
    )


def test_deploy_list_logs_and_stop_through_tools(alice: Caller, project: None) -> None:
    deployed = tool(alice, "deploy_project", project_id=1, port=8091)
    assert deployed.status_code == 200, body(deployed)
    assert body(deployed)["result"] == {"message": "Deployment created on port 8091", "id": 1}
    (listed,) = body(tool(alice, "list_deployments", project_id=1))["result"]
    assert listed["name"] == "deployment-8091" and listed["port"] == 8091

    worker_moves("alice", 1, "building", "starting", "running", container_id="c1")
    deployments.save_logs("alice", 1, 1, "step 1\nstep 2\nstep 3\n", "boot\nready\n")
    logs = body(tool(alice, "get_deployment_logs", deployment_id=1, lines=2))["result"]
    assert logs["build_log"] == "step 2\nstep 3" and logs["container_log"] == "boot\nready"

    stopped = tool(alice, "stop_deployment", deployment_id=1)
    assert stopped.status_code == 200 and body(stopped)["result"] == {"message": "Deployment 1 stopped"}
    assert deployments.get_item("alice", 1)["desired"] == "stopped"  # the stop job is requested


def test_deployment_secrets_never_reach_the_caller(alice: Caller, project: None) -> None:
    alice.post(
        "/api/v1/deploy",
        {"project_id": 1, "name": "app", "port": 8092, "environment": {"DB_PASSWORD": "hunter2hunter2"}},
    )
    (listed,) = body(tool(alice, "list_deployments"))["result"]
    assert listed["environment"]["DB_PASSWORD"] == "********"
    assert "hunter2hunter2" not in str(body(alice.get("/api/v1/audit?action=mcp.tool_call")))


def test_domain_refusals_keep_their_status(alice: Caller, project: None) -> None:
    tool(alice, "deploy_project", project_id=1, port=8091)
    taken = tool(alice, "deploy_project", project_id=1, port=8091)
    assert taken.status_code == 400 and body(taken)["code"] == "PORT_IN_USE"
    missing = tool(alice, "stop_deployment", deployment_id=99)
    assert missing.status_code == 404 and body(missing)["code"] == "NOT_FOUND"


def test_scan_project_queues_a_scan(alice: Caller, roots: Path) -> None:
    (roots / "app").mkdir()
    alice.post("/api/v1/projects", {"name": "app", "path": str(roots / "app")})
    reply = body(tool(alice, "scan_project", project_id=1))
    assert reply["result"] == {"message": "Scan initiated for project 1"}
    assert body(alice.get("/api/v1/projects/1"))["scan_status"] == "queued"


def test_search_code_matches_the_search_api(alice: Caller, scanned: dict[str, int]) -> None:
    through_tool = body(tool(alice, "search_code", query="authentication", limit=5))["result"]
    through_api = body(alice.post("/api/v1/search/code?query=authentication&limit=5"))
    assert through_tool == through_api and through_tool
