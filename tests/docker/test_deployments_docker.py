"""Deployments end to end on a real Docker engine: the API (in process) writes the deployment and its
job request, the stream pump enqueues it on RQ, a real `rq worker` process runs the job against the
engine, and the test watches the API until the deployment settles."""

from __future__ import annotations

import contextlib
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.busybox_image import write_project
from tests.support.deploy_stack import DeployStack, deploy_stack
from workers import docker_deploy, docker_engine

pytestmark = pytest.mark.docker

HOST = "dockerhost"
SETTLED = ("running", "failed", "stopped", "cancelled")


@pytest.fixture(scope="module")
def stack(
    redis_url: str, test_tenant: str, docker_engine_ready: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DeployStack]:
    with deploy_stack(redis_url, test_tenant, HOST, tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture
def project(stack: DeployStack, tmp_path: Path) -> dict[str, Any]:
    """A registered project whose directory holds a Dockerfile serving `marker` = v1."""
    path = chatty(write_project(tmp_path / "app", marker="v1"))
    response = stack.post("/api/v1/projects", {"name": f"app-{tmp_path.name}"[:60], "path": str(path)})
    assert response.status_code == 201, response.body
    return {**json.loads(response.body), "dir": path}


def chatty(path: Path) -> Path:
    """httpd -vv logs each request's URL: what the redaction test needs in the container log."""
    dockerfile = path / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace('"-v"', '"-vv"'))
    return path


def fetch(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return str(response.read().decode()).strip()


def deploy(stack: DeployStack, project: dict[str, Any], **extra: Any) -> tuple[int, int]:
    port = docker_deploy.free_port()
    payload = {
        "project_id": project["id"],
        "name": f"app-{port}",
        "port": port,
        "container_port": 8080,
        "host": HOST,
        "environment": {"APP_TOKEN": "tok-9f8e7d6c"},
        "cpu_limit": "0.5",
        "memory_limit": "64m",
        **extra,
    }
    response = stack.post("/api/v1/deploy", payload)
    assert response.status_code == 201, response.body
    reply = json.loads(response.body)
    assert reply["message"] == f"Deployment created on port {port}"
    return int(reply["id"]), port


def settled(d: dict[str, Any]) -> bool:
    return d["status"] in SETTLED and d["job"] is None


def test_deploy_runs_healthy_with_limits_and_redacted_logs(
    stack: DeployStack, project: dict[str, Any]
) -> None:
    deployment_id, port = deploy(stack, project)
    got = stack.wait_for(deployment_id, settled)
    assert got["status"] == "running", got
    assert [h["status"] for h in got["status_history"]] == ["pending", "building", "starting", "running"]
    assert fetch(port, "/marker") == "v1"
    inspected = docker_engine.client().containers.get(got["container_id"]).attrs
    assert inspected["HostConfig"]["NanoCpus"] == 500_000_000
    assert inspected["HostConfig"]["Memory"] == 64 * 1024**2
    assert inspected["HostConfig"]["Init"] is True
    assert inspected["Config"]["Labels"]["borgos.deployment"] == str(deployment_id)
    assert got["image_id"].startswith("sha256:") and got["serving_revision"] == 1
    # A retried job changes nothing.
    from workers import deploy_jobs

    assert deploy_jobs.run_deployment(stack.tenant, deployment_id, 1) == "revision 1 already handled"
    assert (
        json.loads(stack.get(f"/api/v1/deployments/{deployment_id}").body)["status_history"]
        == got["status_history"]
    )
    project_view = json.loads(stack.get(f"/api/v1/projects/{project['id']}").body)
    assert {"id": deployment_id, "port": port, "status": "running"} in project_view["deployments"]
    # The app logs the request line; the environment's value in it comes back redacted.
    with pytest.raises(urllib.error.HTTPError):
        fetch(port, "/missing/tok-9f8e7d6c")
    assert stack.post(f"/api/v1/deployments/{deployment_id}/stop").status_code == 200
    stopped = stack.wait_for(deployment_id, settled)
    assert stopped["status"] == "stopped" and stopped["container_id"] is None
    logs = json.loads(stack.get(f"/api/v1/deployments/{deployment_id}/logs").body)
    assert "url:/missing/[REDACTED]" in logs["container_log"]
    assert "tok-9f8e7d6c" not in logs["container_log"]
    assert docker_deploy.managed_containers(tenant=stack.tenant, deployment_id=deployment_id) == []
    # Restarting a stopped deployment brings it back as revision 2.
    assert stack.post(f"/api/v1/deployments/{deployment_id}/restart").status_code == 200
    again = stack.wait_for(deployment_id, settled)
    assert again["status"] == "running" and again["revision"] == 2
    assert fetch(port, "/marker") == "v1"


def test_failing_redeploy_keeps_the_old_revision_serving_then_rollback(
    stack: DeployStack, project: dict[str, Any]
) -> None:
    deployment_id, port = deploy(stack, project)
    assert stack.wait_for(deployment_id, settled)["status"] == "running"
    # Revision 2: the project now serves v2 but has no /health.
    write_project(project["dir"], marker="v2", healthy=False)
    (project["dir"] / "www" / "health").unlink(missing_ok=True)
    assert stack.post(f"/api/v1/deployments/{deployment_id}/redeploy").status_code == 200
    got = stack.wait_for(deployment_id, lambda d: settled(d) and d["revision"] == 2)
    assert got["status"] == "running" and got["serving_revision"] == 1
    assert "revision 2 failed" in got["status_reason"] and "revision 1 keeps serving" in got["status_reason"]
    assert fetch(port, "/marker") == "v1"
    # Revision 3: healthy v3.
    write_project(project["dir"], marker="v3")
    stack.post(f"/api/v1/deployments/{deployment_id}/redeploy")
    got = stack.wait_for(deployment_id, lambda d: settled(d) and d["revision"] == 3)
    assert got["status"] == "running" and got["serving_revision"] == 3 and fetch(port, "/marker") == "v3"
    history = json.loads(stack.get(f"/api/v1/deployments/{deployment_id}/history").body)
    assert [(r["revision"], r["status"]) for r in history] == [
        (3, "running"),
        (2, "failed"),
        (1, "superseded"),
    ]
    # Roll back to revision 1: its image runs again, no build.
    response = stack.post(f"/api/v1/deployments/{deployment_id}/rollback", {"revision": 1})
    assert response.status_code == 200, response.body
    got = stack.wait_for(deployment_id, lambda d: settled(d) and d["revision"] == 4)
    assert got["status"] == "running" and fetch(port, "/marker") == "v1"
    assert got["image_id"] == history[2]["image_id"]
    # The container runs the recorded image by id; the revision's tag was given beside its creation.
    serving = docker_engine.client().containers.get(got["container_id"])
    assert serving.attrs["Config"]["Image"] == got["image_id"]
    tags = docker_engine.client().images.get(got["image_id"]).tags
    assert f"borgos/{stack.tenant}-d{deployment_id}:r4" in tags
    # Nothing to build or pull: pending -> starting -> running.
    assert [h["status"] for h in got["status_history"][-3:]] == ["pending", "starting", "running"]
    # Exactly one container serves the deployment.
    assert len(docker_deploy.managed_containers(tenant=stack.tenant, deployment_id=deployment_id)) == 1


def test_broken_dockerfile_ends_failed_with_the_build_log(
    stack: DeployStack, project: dict[str, Any]
) -> None:
    write_project(project["dir"], broken=True)
    deployment_id, _ = deploy(stack, project)
    got = stack.wait_for(deployment_id, settled)
    assert got["status"] == "failed" and "build failed" in got["status_reason"]
    logs = json.loads(stack.get(f"/api/v1/deployments/{deployment_id}/logs").body)
    assert "missing-dir" in logs["build_log"]
    # Its port stays reserved until it is stopped or deleted.
    assert stack.delete(f"/api/v1/deployments/{deployment_id}").status_code == 202
    stack_deadline_gone(stack, deployment_id)


def stack_deadline_gone(stack: DeployStack, deployment_id: int) -> None:
    import time

    deadline = time.monotonic() + 60
    while stack.get(f"/api/v1/deployments/{deployment_id}").status_code != 404:
        assert time.monotonic() < deadline, stack.worker_log()
        time.sleep(0.1)


@contextlib.contextmanager
def recorded_logs() -> Iterator[list[logging.LogRecord]]:
    """What the structured logger emits meanwhile, at INFO (the suite logs at WARNING)."""
    from chalicelib.logs import logger

    records: list[logging.LogRecord] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler, level = Recorder(), logger.log_level
    logger.addHandler(handler)
    logger.setLevel("INFO")
    try:
        yield records
    finally:
        logger.setLevel(level)
        logging.getLogger(logger.name).removeHandler(handler)


def test_reconcile_restores_a_removed_container_and_removes_strays(
    stack: DeployStack, project: dict[str, Any], busybox_image: str
) -> None:
    from workers import deploy_jobs

    deployment_id, port = deploy(stack, project)
    first = stack.wait_for(deployment_id, settled)
    docker_deploy.remove(first["container_id"])
    tally = deploy_jobs.reconcile_host(stack.tenant, HOST)
    assert tally["failed"] == 1
    failed = json.loads(stack.get(f"/api/v1/deployments/{deployment_id}").body)
    assert failed["status"] == "failed" and "missing" in failed["status_reason"]
    errors = json.loads(stack.get(f"/api/v1/errors?project_id={project['id']}").body)
    assert any(e["deployment_id"] == deployment_id for e in errors)
    # The next round restarts it (first attempt without delay).
    tally = deploy_jobs.reconcile_host(stack.tenant, HOST)
    assert tally["restarted"] == 1
    restored = json.loads(stack.get(f"/api/v1/deployments/{deployment_id}").body)
    assert restored["status"] == "running" and restored["container_id"] != first["container_id"]
    assert fetch(port, "/marker") == "v1"
    # Each round refreshes the stored container log.
    deploy_jobs.reconcile_host(stack.tenant, HOST)
    logs = json.loads(stack.get(f"/api/v1/deployments/{deployment_id}/logs").body)
    assert "url:/marker" in logs["container_log"]
    # Labelled containers no deployment wants (a killed job's candidate, a deleted deployment's) go.
    labels = {
        "borgos.managed": "1",
        "borgos.tenant": stack.tenant,
        "borgos.host": HOST,
        "borgos.revision": "9",
    }
    client = docker_engine.client()
    strays = {
        owner: client.containers.create(busybox_image, labels={**labels, "borgos.deployment": str(owner)}).id
        for owner in (deployment_id, 999_999)
    }
    with recorded_logs() as records:
        assert deploy_jobs.reconcile_host(stack.tenant, HOST)["removed"] == 2
    removals = [r.__dict__ for r in records if r.getMessage() == "reconcile removed a container"]
    assert {(r["deployment_id"], r["container_id"]) for r in removals} == set(strays.items())
    assert docker_deploy.managed_containers(tenant=stack.tenant, deployment_id=999_999) == []
    assert [
        c.id for c in docker_deploy.managed_containers(tenant=stack.tenant, deployment_id=deployment_id)
    ] == [restored["container_id"]]
    stack.delete(f"/api/v1/deployments/{deployment_id}")
    stack_deadline_gone(stack, deployment_id)
    assert docker_deploy.managed_containers(tenant=stack.tenant, deployment_id=deployment_id) == []


def test_cancel_stops_a_rollout_in_its_health_check(stack: DeployStack, project: dict[str, Any]) -> None:
    import time

    (project["dir"] / "www" / "health").unlink()  # never healthy: the rollout would wait its timeout
    deployment_id, port = deploy(stack, project)
    stack.wait_for(deployment_id, lambda d: d["status"] == "starting")
    asked = time.monotonic()
    response = stack.post(f"/api/v1/deployments/{deployment_id}/cancel")
    assert response.status_code == 200, response.body
    got = stack.wait_for(deployment_id, settled)
    assert got["status"] == "cancelled" and got["container_id"] is None
    assert time.monotonic() - asked < 8  # sooner than the health timeout
    assert [h["status"] for h in got["status_history"]][-1] == "cancelled"
    assert (
        json.loads(stack.get(f"/api/v1/deployments/{deployment_id}/history").body)[0]["status"] == "cancelled"
    )
    assert docker_deploy.managed_containers(tenant=stack.tenant, deployment_id=deployment_id) == []
    # The port claim went with it; cancelling a rollout that has not started settles it too.
    again = stack.post(
        "/api/v1/deploy", {"project_id": project["id"], "name": "again", "port": port, "host": HOST}
    )
    assert again.status_code == 201, again.body
    again_id = json.loads(again.body)["id"]
    assert stack.post(f"/api/v1/deployments/{again_id}/cancel").status_code == 200
    assert stack.wait_for(again_id, settled)["status"] == "cancelled"


def test_a_worker_killed_mid_rollout_leaves_a_definite_state_after_reconcile(
    stack: DeployStack, project: dict[str, Any]
) -> None:
    import time

    from workers import deploy_jobs

    (project["dir"] / "www" / "health").unlink()  # never healthy: the rollout waits in its health check
    deployment_id, _ = deploy(stack, project)
    stack.wait_for(deployment_id, lambda d: d["status"] == "starting")
    stack.worker.kill()  # whichever of the host's two workers runs the rollout
    stack.helper.kill()
    try:
        # Reconcile leaves it alone while the dead job's lock lease runs; then it settles it.
        deadline = time.monotonic() + 90
        while json.loads(stack.get(f"/api/v1/deployments/{deployment_id}").body)["job"] is not None:
            assert time.monotonic() < deadline
            deploy_jobs.reconcile_host(stack.tenant, HOST)
            time.sleep(0.5)
        got = json.loads(stack.get(f"/api/v1/deployments/{deployment_id}").body)
        assert got["status"] == "failed" and got["status_reason"] == "the worker stopped during the rollout"
        assert docker_deploy.managed_containers(tenant=stack.tenant, deployment_id=deployment_id) == []
        history = json.loads(stack.get(f"/api/v1/deployments/{deployment_id}/history").body)
        assert history[0]["status"] == "failed"
    finally:
        stack.worker.start()
        stack.helper.start()


def test_a_deployment_pinned_to_another_host_runs_only_there(
    stack: DeployStack, project: dict[str, Any], tmp_path: Path
) -> None:
    import time

    import redis
    from rq import Queue

    from chalicelib import hosts
    from chalicelib.models.hosts import HostRegistration
    from tests.support.deploy_stack import Worker

    other = "otherhost"
    hosts.register_host(
        stack.tenant, HostRegistration(name=other, address="127.0.0.1", cpu_count=1, memory_bytes=2**30)
    )
    deployment_id, port = deploy(stack, project, host=other)
    queue = Queue(f"host.{other}", connection=redis.Redis.from_url(stack.env["BORGOS_REDIS_URL"]))
    job_id = json.loads(stack.get(f"/api/v1/deployments/{deployment_id}").body)["job"]
    deadline = time.monotonic() + 30
    while job_id not in queue.job_ids:  # the stream pump delivers it to that host's queue only
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert json.loads(stack.get(f"/api/v1/deployments/{deployment_id}").body)["status"] == "pending"
    worker = Worker([f"host.{other}"], stack.worker.env, tmp_path / "other.log")
    worker.start()
    try:
        got = stack.wait_for(deployment_id, settled)
        assert got["status"] == "running" and got["host"] == other and fetch(port, "/marker") == "v1"
        [container] = docker_deploy.managed_containers(tenant=stack.tenant, deployment_id=deployment_id)
        assert container.host == other
        stack.post(f"/api/v1/deployments/{deployment_id}/stop")
        assert stack.wait_for(deployment_id, settled)["status"] == "stopped"
    finally:
        worker.stop()
