"""After the Docker engine restarts, every deployment that should run serves again (issue 3). The
engine restarted is a private dockerd of this module's own (tests/support/private_dockerd.py), so the
machine's shared engine, which other tests use, is never touched; the module is skipped where a
private engine cannot run."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.support.busybox_image import ensure_image
from tests.support.deploy_stack import DeployStack, deploy_stack
from tests.support.private_dockerd import EngineUnavailable, PrivateDockerd, private_dockerd
from workers import docker_deploy, docker_engine, docker_health

pytestmark = pytest.mark.docker

HOST = "restarthost"
RECONCILE_TIMEOUT = 120


@pytest.fixture(scope="module")
def engine() -> Iterator[PrivateDockerd]:
    with ExitStack() as stack:
        try:
            running = stack.enter_context(private_dockerd())
        except EngineUnavailable as exc:
            pytest.skip(str(exc))
        yield running


@pytest.fixture(scope="module")
def stack(
    engine: PrivateDockerd, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DeployStack]:
    """The deploy stack with this process and its workers pointed at the private engine."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DOCKER_HOST", engine.url)
        docker_engine.reset_client()
        try:
            workdir = tmp_path_factory.mktemp("restart")
            image = ensure_image(workdir)
            tenant = f"t{uuid.uuid4().hex[:10]}"
            with deploy_stack(redis_url, tenant, HOST, workdir) as running:
                running.extra["image"] = image
                yield running
        finally:
            docker_engine.reset_client()
    docker_engine.reset_client()


def deploy(stack: DeployStack, project_id: int) -> tuple[int, int]:
    port = docker_deploy.free_port()
    response = stack.post(
        "/api/v1/deploy",
        {
            "project_id": project_id,
            "name": f"app-{port}",
            "port": port,
            "container_port": 8080,
            "host": HOST,
            "image": stack.extra["image"],
        },
    )
    assert response.status_code == 201, response.body
    return int(json.loads(response.body)["id"]), port


def current(stack: DeployStack, deployment_id: int) -> dict[str, Any]:
    return dict(json.loads(stack.get(f"/api/v1/deployments/{deployment_id}").body))


def serving(stack: DeployStack, deployment_id: int) -> bool:
    got = current(stack, deployment_id)
    return bool(
        got["status"] == "running"
        and got["job"] is None
        and docker_deploy.state(got["container_id"]) == "running"
    )


def reconcile_round(stack: DeployStack) -> dict[str, int]:
    """One reconcile round as the host runs it every 30 s: an RQ job on the host's queue, run by the
    stack's worker, whose engine connection dates from before the restart."""
    from rq import Queue
    from rq.results import Result

    from chalicelib import jobs

    job = Queue(f"host.{HOST}", connection=jobs.redis_connection()).enqueue(
        "workers.deploy_jobs.reconcile_host", kwargs={"tenant": stack.tenant, "host": HOST}
    )
    result = job.latest_result(timeout=RECONCILE_TIMEOUT)
    assert result is not None and result.type == Result.Type.SUCCESSFUL, (
        getattr(result, "exc_string", None) or stack.worker_log()
    )
    return dict(result.return_value or {})


def test_every_wanted_deployment_serves_again_after_the_engine_restarts(
    stack: DeployStack, engine: PrivateDockerd, tmp_path: Path
) -> None:
    project = json.loads(stack.post("/api/v1/projects", {"name": "restart", "path": str(tmp_path)}).body)
    deployed = [deploy(stack, project["id"]) for _ in range(2)]
    before = {
        d: stack.wait_for(d, lambda x: x["status"] == "running" and x["job"] is None) for d, _ in deployed
    }
    # The second container is down when the engine goes away (stopped by hand), so the engine's
    # restart policy brings back only the first: reconcile must bring back the other.
    first, second = (deployment_id for deployment_id, _ in deployed)
    docker_engine.client().containers.get(before[second]["container_id"]).stop(timeout=1)

    engine.restart()

    for _ in range(5):
        if all(serving(stack, d) for d, _ in deployed):
            break
        reconcile_round(stack)
    else:
        pytest.fail(f"not all serving again: {[current(stack, d) for d, _ in deployed]}")
    for deployment_id, port in deployed:
        got = current(stack, deployment_id)
        assert got["status"] == "running" and got["job"] is None, got
        assert docker_deploy.state(got["container_id"]) == "running"
        assert docker_health.probe_http("127.0.0.1", port, "/health")[0]
        assert [c.id for c in docker_deploy.managed_containers(deployment_id=deployment_id)] == [
            got["container_id"]
        ]
    # The one the engine restarted by itself kept its container and was never marked failed.
    assert current(stack, first)["container_id"] == before[first]["container_id"]
    assert "failed" not in [h["status"] for h in current(stack, first)["status_history"]]
    # The other went failed (with the reason) and came back through a restart attempt.
    reasons = [(h["status"], h["reason"]) for h in current(stack, second)["status_history"]]
    assert ("failed", f"container {before[second]['container_id'][:12]} exited") in reasons
    assert reasons[-1][0] == "running"
