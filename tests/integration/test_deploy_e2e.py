"""End to end on the REAL local stack: POST /api/v1/deploy over HTTP to `chalice local`, the job
outbox, the stack's stream pump, its worker host `local` running the deploy job against the real
Docker engine; the container answers on the deployment's port, the API says `running`, and stop
removes it."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.busybox_image import write_project
from workers import docker_deploy

pytestmark = [pytest.mark.integration, pytest.mark.docker]
HOST = "local"  # the stack's worker listens on host.local
TENANT = "local"  # the stack's admin token belongs to this tenant


def wait_status(api: httpx.Client, deployment_id: int, wanted: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        current = api.get(f"/api/v1/deployments/{deployment_id}").json()
        if current["status"] == wanted and current["job"] is None:
            return dict(current)
        if time.monotonic() > deadline:
            raise AssertionError(f"deployment {deployment_id} not {wanted}: {current}")
        time.sleep(0.2)


def test_deploy_through_the_real_api_serves_and_stops(
    local_stack: Any, api: httpx.Client, stack_store: Any, tmp_path: Path
) -> None:
    from chalicelib import hosts
    from chalicelib.models.hosts import HostRegistration

    # What `python -m workers.host --name local` does at start (the stack runs a bare RQ worker).
    hosts.register_host(
        TENANT, HostRegistration(name=HOST, address="127.0.0.1", cpu_count=1, memory_bytes=2**30)
    )
    path = write_project(tmp_path / "e2e-app", marker="e2e")
    project = api.post("/api/v1/projects", json={"name": "e2e-deploy", "path": str(path)})
    assert project.status_code == 201, project.text
    port = docker_deploy.free_port()
    created = api.post(
        "/api/v1/deploy",
        json={
            "project_id": project.json()["id"],
            "name": f"e2e-{port}",
            "port": port,
            "container_port": 8080,
            "host": HOST,
            "cpu_limit": "0.5",
            "memory_limit": "64m",
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["message"] == f"Deployment created on port {port}"
    deployment_id = created.json()["id"]
    try:
        running = wait_status(api, deployment_id, "running")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/marker", timeout=5) as response:
            assert response.read().decode().strip() == "e2e"
        listed = api.get("/api/v1/deployments", params={"status": "running"}).json()
        assert deployment_id in [d["id"] for d in listed]
        assert api.post(f"/api/v1/deployments/{deployment_id}/stop").json() == {
            "message": f"Deployment {deployment_id} stopped"
        }
        wait_status(api, deployment_id, "stopped")
        assert docker_deploy.state(running["container_id"]) == "missing"
    finally:
        api.delete(f"/api/v1/deployments/{deployment_id}")
