"""The BorgOS reference's client examples, run unchanged (but for the auth header) against the real
local stack: the Python client (requests), the TypeScript client (compiled with tsc, run by Node's
fetch) and the curl lines. Each reply must have the reference's shape."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.local.node_tools import npm_tool

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
PROJECT_FIELDS = {
    "id",
    "name",
    "path",
    "zenith_id",
    "project_type",
    "tech_stack",
    "health_score",
    "vibe_score",
    "eco_score",
    "errors",
    "metadata",
    "is_active",
    "created_at",
    "updated_at",
}
TYPESCRIPT_VERSION = "5.9.3"


@pytest.fixture(scope="module")
def tenant_token(local_stack: Any) -> str:
    """A fresh tenant, so the examples' `project_id` 1 is this module's first project."""
    reply = httpx.post(
        f"{local_stack.api_url}/api/v1/tokens",
        headers={"Authorization": f"Bearer {local_stack.token}"},
        json={
            "name": "reference-examples",
            "tenant": "reference-examples",
            "scopes": ["read", "write", "deploy"],
        },
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["token"])


@pytest.fixture(scope="module")
def first_project(local_stack: Any, tenant_token: str) -> dict[str, Any]:
    reply = httpx.post(
        f"{local_stack.api_url}/api/v1/projects",
        headers={"Authorization": f"Bearer {tenant_token}"},
        json={
            "name": "NewProject",
            "path": "/projects/newproject",
            "project_type": "api",
            "tech_stack": ["fastapi", "postgresql"],
        },
    )
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def test_python_client_lists_projects_in_the_reference_shape(
    local_stack: Any, tenant_token: str, first_project: dict[str, Any]
) -> None:
    namespace: dict[str, Any] = {"BORGOS_TOKEN": tenant_token}
    exec((REFERENCE / "borgos_client.py").read_text(), namespace)
    client = namespace["BorgOSClient"](local_stack.api_url)

    projects = client.get_projects()

    assert isinstance(projects, list)
    assert [p["id"] for p in projects] == [first_project["id"]] == [1]
    assert set(projects[0]) >= PROJECT_FIELDS
    assert (
        projects[0]["health_score"] == 0
        and projects[0]["vibe_score"] == 75
        and projects[0]["eco_score"] == 80
    )


def test_curl_lists_projects_with_the_auth_header(
    local_stack: Any, tenant_token: str, first_project: dict
) -> None:
    curl = shutil.which("curl")
    assert curl, "curl is part of the machine's base"
    out = subprocess.run(
        [curl, "-s", "-H", f"Authorization: Bearer {tenant_token}", f"{local_stack.api_url}/api/v1/projects"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert [p["name"] for p in json.loads(out.stdout)] == ["NewProject"]


def test_curl_without_a_token_gets_the_reference_401(local_stack: Any) -> None:
    out = subprocess.run(
        ["curl", "-s", "-w", "\n%{http_code}", f"{local_stack.api_url}/api/v1/projects"],
        capture_output=True,
        text=True,
        check=True,
    )
    body, status = out.stdout.rsplit("\n", 1)
    assert status == "401"
    assert json.loads(body)["error"] == "Unauthorized"
    assert json.loads(body)["message"] == "Invalid or missing authentication token"


def test_typescript_client_lists_projects(
    local_stack: Any, tenant_token: str, first_project: dict, tmp_path: Path
) -> None:
    tsc = npm_tool("typescript", TYPESCRIPT_VERSION, "tsc")
    subprocess.run(
        [
            tsc,
            "--target",
            "es2022",
            "--module",
            "es2022",
            "--outDir",
            str(tmp_path),
            str(REFERENCE / "borgos_client.ts"),
        ],
        check=True,
    )
    runner = tmp_path / "run.mjs"
    runner.write_text(
        f"globalThis.BORGOS_TOKEN = {json.dumps(tenant_token)};\n"
        "const { BorgOSClient } = await import('./borgos_client.js');\n"
        f"const client = new BorgOSClient({json.dumps(local_stack.api_url)});\n"
        "console.log(JSON.stringify(await client.getProjects()));\n"
    )
    (tmp_path / "package.json").write_text('{"type": "module"}')
    out = subprocess.run(["node", str(runner)], capture_output=True, text=True, check=True)
    projects = json.loads(out.stdout)
    assert [p["id"] for p in projects] == [1] and set(projects[0]) >= PROJECT_FIELDS


def test_python_client_deploys_with_the_reference_reply(local_stack: Any, api: httpx.Client) -> None:
    """The deploy call of the example, on the stack's own tenant (its worker host is registered there)."""
    project = api.post(
        "/api/v1/projects", json={"name": "deploy-example", "path": "/projects/deploy-example"}
    )
    assert project.status_code == 201, project.text
    namespace: dict[str, Any] = {"BORGOS_TOKEN": local_stack.token}
    exec((REFERENCE / "borgos_client.py").read_text(), namespace)
    client = namespace["BorgOSClient"](local_stack.api_url)

    deployment = client.deploy_project(project.json()["id"], 8090)

    assert set(deployment) == {"message", "id"}, deployment
    assert deployment["message"] == "Deployment created on port 8090"
    detail = api.get(f"/api/v1/deployments/{deployment['id']}").json()
    assert detail["port"] == 8090 and detail["name"] == "deployment-8090"


def test_health_and_status_have_the_reference_shape(local_stack: Any, tenant_token: str) -> None:
    health = httpx.get(f"{local_stack.api_url}/health").json()
    assert health["status"] == "healthy" and health["timestamp"].endswith("Z")
    status = httpx.get(
        f"{local_stack.api_url}/api/v1/status", headers={"Authorization": f"Bearer {tenant_token}"}
    )
    assert status.status_code == 200
    assert {
        "cpu_percent",
        "memory_percent",
        "disk_percent",
        "active_deployments",
        "total_projects",
        "recent_errors",
        "uptime_seconds",
    } <= set(status.json())
