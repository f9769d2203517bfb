"""End to end on the REAL local stack: POST /api/v1/deploy over HTTP to `chalice local`, the job
outbox, the stack's stream pump, its worker host running the deploy job against the real
Docker engine; the container answers on the deployment's port, the API says `running`, and stop
removes it. Another stack on the same engine (`make dev`, a parallel test run) leaves it alone."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.busybox_image import write_project
from tests.support.local_stack import LocalStack, free_config, start_stack
from workers import docker_deploy

pytestmark = [pytest.mark.integration, pytest.mark.docker]
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


def deploy(local_stack: LocalStack, api: httpx.Client, path: Path, name: str) -> tuple[int, int]:
    """Register the stack's worker host (what `python -m workers.host` does at start), create a
    project from `path` and deploy it there on a free port; returns the deployment id and port."""
    from chalicelib import hosts
    from chalicelib.models.hosts import HostRegistration

    host = local_stack.config.worker_name
    hosts.register_host(
        TENANT, HostRegistration(name=host, address="127.0.0.1", cpu_count=1, memory_bytes=2**30)
    )
    project = api.post("/api/v1/projects", json={"name": name, "path": str(path)})
    assert project.status_code == 201, project.text
    port = docker_deploy.free_port()
    created = api.post(
        "/api/v1/deploy",
        json={
            "project_id": project.json()["id"],
            "name": f"{name}-{port}",
            "port": port,
            "container_port": 8080,
            "host": host,
            "cpu_limit": "0.5",
            "memory_limit": "64m",
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["message"] == f"Deployment created on port {port}"
    return int(created.json()["id"]), port


def fetch(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return str(response.read().decode().strip())


def test_deploy_through_the_real_api_serves_and_stops(
    local_stack: LocalStack, api: httpx.Client, stack_store: Any, tmp_path: Path
) -> None:
    deployment_id, port = deploy(local_stack, api, write_project(tmp_path / "app", marker="e2e"), "e2e")
    try:
        running = wait_status(api, deployment_id, "running")
        assert fetch(port, "/marker") == "e2e"
        listed = api.get("/api/v1/deployments", params={"status": "running"}).json()
        assert deployment_id in [d["id"] for d in listed]
        assert api.post(f"/api/v1/deployments/{deployment_id}/stop").json() == {
            "message": f"Deployment {deployment_id} stopped"
        }
        wait_status(api, deployment_id, "stopped")
        assert docker_deploy.state(running["container_id"]) == "missing"
    finally:
        api.delete(f"/api/v1/deployments/{deployment_id}")


def wait_reconciled(stack: LocalStack, timeout: float = 120) -> None:
    """Until the stack's worker finished a reconcile (its host runs one as it starts)."""
    import redis
    from rq.registry import FinishedJobRegistry

    registry = FinishedJobRegistry(
        f"host.{stack.config.worker_name}", connection=redis.Redis.from_url(stack.redis_url)
    )
    deadline = time.monotonic() + timeout
    while not any("reconcile_host" in job_id for job_id in registry.get_job_ids()):
        if time.monotonic() > deadline:  # another process's job: poll with a deadline
            raise AssertionError(f"no reconcile finished on {stack.config.worker_name}")
        time.sleep(0.2)


def test_another_stack_on_the_same_engine_leaves_the_deployment_running(
    local_stack: LocalStack, api: httpx.Client, stack_store: Any, tmp_path: Path
) -> None:
    """Its reconcile removes the containers of its tenant and worker host that its own table does not
    know: with a worker name of its own, those are never this stack's."""
    deployment_id, port = deploy(local_stack, api, write_project(tmp_path / "app", marker="kept"), "kept")
    try:
        running = wait_status(api, deployment_id, "running")
        other = start_stack(free_config(tmp_path / "other-stack"))
        try:
            wait_reconciled(other)
        finally:
            other.stop()
        assert docker_deploy.state(running["container_id"]) == "running"
        assert fetch(port, "/marker") == "kept"
    finally:
        api.delete(f"/api/v1/deployments/{deployment_id}")
