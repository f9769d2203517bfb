"""POST /api/v1/deploy -> `running` through the API, the job outbox, the stream and a real RQ worker,
against a bare `docker run` plus the same health poll, in the same run.

Run from the repository root:  python -m bench.deploy_latency --runs 7
Both paths start the same FROM-scratch busybox image with the same limits (--init, 0.5 CPU, 64 MiB)
and wait for `GET /health` to answer 200 with the same probe (`docker_health.wait_healthy`). The
deploy path is timed from the POST until the commit that makes the deployment `running` reaches the
table's stream and the stream handler has fanned it out (what WebSocket clients are pushed), so it
includes the POST's table calls and transaction, two stream hops through the local stack's pump
(infra/local/pump.py, one GetRecords every 50 ms; Lambda polls a shard about 4 times a second, so
this is the optimistic side of AWS), RQ, the job's read, its `starting` report (written while the
engine starts the container) and `running` transaction, and the façade's rollout.
Target (issue 3): median ratio at most 1.3. Not reachable with these hops: see docs/deployments.md
for the per-phase breakdown. The bench prints coarse milestones of the deploy path itself (when the
API answered and when the stream handler was done with each status), read from the stream, without
instrumenting the code under test.

Also measured: seconds from a serving container's disappearance to its deployment being `running`
again through reconcile, with reconcile rounds back to back (in production a round runs every 30 s,
which adds up to that much detection delay).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import median
from bench.docker_baseline import bare_run
from tests.support.busybox_image import ensure_image
from tests.support.deploy_stack import DeployStack, deploy_stack
from tests.support.local_services import private_redis
from workers import deploy_jobs, docker_deploy

HOST = "benchhost"
HEALTH_TIMEOUT = 30.0


def status(stack: DeployStack, deployment_id: int) -> dict[str, Any]:
    return dict(json.loads(stack.get(f"/api/v1/deployments/{deployment_id}").body))


# Milestones of the deploy path, each as seconds after the POST: the API's answer, then the end of
# the stream handler's work on the first batch showing each status of the deployment (the job request
# is enqueued at the start of the `pending` batch; fan-out and webhook matching follow).
MILESTONES = ("201 answered", "pending batch handled", "starting batch handled", "running batch handled")


class StatusWatch:
    """Notes when the table's stream first shows each status of each deployment and awaits the
    commit that settles it (what the WebSocket fan-out sees), instead of polling the API, which would
    load the one DynamoDB the worker uses."""

    def __init__(self, stack: DeployStack) -> None:
        self._lock = threading.Condition()
        self._first_seen: dict[tuple[int, str], float] = {}
        self._settled: dict[int, tuple[str, float]] = {}
        stack.pump.listeners.append(self._seen)

    def _seen(self, records: list[dict[str, Any]]) -> None:
        from chalicelib.stream import image

        now = time.perf_counter()
        with self._lock:
            for record in records:
                item = image(record, "NewImage") or {}
                if item.get("entity") != "deployment":
                    continue
                self._first_seen.setdefault((int(item["id"]), item["status"]), now)
                if item.get("job") is None and item["status"] in ("running", "failed", "cancelled"):
                    self._settled.setdefault(int(item["id"]), (item["status"], now))
            self._lock.notify_all()

    def wait(self, deployment_id: int, timeout: float = 60) -> float:
        """perf_counter time at which the pump saw the deployment settle."""
        with self._lock:
            if not self._lock.wait_for(lambda: deployment_id in self._settled, timeout):
                raise RuntimeError(f"deployment {deployment_id} did not settle")
            outcome, at = self._settled[deployment_id]
        if outcome != "running":
            raise RuntimeError(f"deployment {deployment_id} ended {outcome}")
        return at

    def first_seen(self, deployment_id: int, status: str) -> float:
        with self._lock:
            return self._first_seen[(deployment_id, status)]


def remove(stack: DeployStack, deployment_id: int) -> None:
    stack.delete(f"/api/v1/deployments/{deployment_id}")
    deadline = time.monotonic() + 60
    while stack.get(f"/api/v1/deployments/{deployment_id}").status_code != 404:
        if time.monotonic() > deadline:
            raise RuntimeError(f"deployment {deployment_id} was not deleted\n{stack.worker_log()}")
        time.sleep(0.05)


def api_deploy(
    stack: DeployStack, watch: StatusWatch, project_id: int, image: str
) -> tuple[list[float], int]:
    """Deploy through the API; returns the MILESTONES (the last is the measured time) and the id."""
    port = docker_deploy.free_port()
    body = {
        "project_id": project_id,
        "name": f"bench-{port}",
        "port": port,
        "container_port": 8080,
        "host": HOST,
        "image": image,
        "cpu_limit": "0.5",
        "memory_limit": "64m",
    }
    started = time.perf_counter()
    response = stack.post("/api/v1/deploy", body)
    answered = time.perf_counter()
    if response.status_code != 201:
        raise RuntimeError(f"deploy refused: {response.body}")
    deployment_id = int(json.loads(response.body)["id"])
    running = watch.wait(deployment_id)
    seen = [watch.first_seen(deployment_id, s) for s in ("pending", "starting")]
    return [moment - started for moment in (answered, *seen, running)], deployment_id


def reconcile_restore(stack: DeployStack, deployment_id: int) -> float:
    """Remove the serving container; reconcile until the deployment runs again."""
    container_id = status(stack, deployment_id)["container_id"]
    started = time.perf_counter()
    docker_deploy.remove(container_id)
    while True:
        deploy_jobs.reconcile_host(tenant=stack.tenant, host=HOST)
        current = status(stack, deployment_id)
        if current["status"] == "running" and current["container_id"] != container_id:
            return time.perf_counter() - started
        if time.perf_counter() - started > 120:
            raise RuntimeError(f"not restored: {current}")


def listed(values: list[float]) -> str:
    return ", ".join(f"{value:.3f}" for value in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    tenant = f"bench{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        image = ensure_image(workdir)
        try:
            with private_redis(workdir) as redis_url, deploy_stack(redis_url, tenant, HOST, workdir) as stack:
                project = json.loads(stack.post("/api/v1/projects", {"name": "bench", "path": tmp}).body)
                watch = StatusWatch(stack)
                # Warm both paths once (imports, image cache, first connections).
                _, warm = api_deploy(stack, watch, project["id"], image)
                remove(stack, warm)
                bare_run(image)
                bare_times, milestones = [], []
                for _ in range(args.runs):
                    bare_times.append(bare_run(image))
                    reached, deployment_id = api_deploy(stack, watch, project["id"], image)
                    milestones.append(reached)
                    remove(stack, deployment_id)
                _, deployment_id = api_deploy(stack, watch, project["id"], image)
                restore_times = [reconcile_restore(stack, deployment_id) for _ in range(3)]
                remove(stack, deployment_id)
        finally:
            for container in docker_deploy.managed_containers(tenant=tenant):
                docker_deploy.remove(container.id)
    api_times = [reached[-1] for reached in milestones]
    ratios = [a / b for a, b in zip(api_times, bare_times, strict=True)]
    print(f"runs: {args.runs}")
    print(f"bare docker run -> healthy   median {median(bare_times):.3f} s  ({listed(bare_times)})")
    print(f"POST /deploy -> running      median {median(api_times):.3f} s  ({listed(api_times)})")
    print(f"ratio per run                median {median(ratios):.2f}  (target <= 1.3)")
    print("deploy path, seconds after the POST (medians):")
    for index, name in enumerate(MILESTONES):
        print(f"  {name:24} {median([reached[index] for reached in milestones]):.3f}")
    print(f"reconcile: container gone -> running  median {median(restore_times):.3f} s (back-to-back rounds)")


if __name__ == "__main__":
    main()
