"""Deploy through the engine façade vs a bare `docker run`, each until the health check answers 200.

Run from the repository root:  python -m bench.docker_baseline --runs 7
Both paths start the same FROM-scratch busybox image with the same limits (--init, 0.5 CPU, 64 MiB)
and poll the same health URL with the same probe, in the same run, so the ratio is the cost of the
façade itself (spec, labels, inspect calls, liveness checks). Then same-port redeploys: the swap gap
the façade measures and the longest gap an outside client polling every 10 ms actually saw.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench.common import median
from tests.support.busybox_image import ensure_image
from workers import docker_deploy, docker_health
from workers.docker_spec import ContainerSpec

TENANT = f"bench{uuid.uuid4().hex[:6]}"
HEALTH_TIMEOUT = 30.0


def bare_run(image: str) -> float:
    port = docker_deploy.free_port()
    started = time.perf_counter()
    container = subprocess.run(
        ["docker", "run", "-d", "--init", "--cpus", "0.5", "-m", "64m", "-p", f"{port}:8080", image],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    health = docker_health.wait_healthy(
        lambda: docker_health.probe_http("127.0.0.1", port, "/health"), timeout=HEALTH_TIMEOUT
    )
    elapsed = time.perf_counter() - started
    subprocess.run(["docker", "rm", "-f", container], check=True, capture_output=True)
    if not health.healthy:
        raise RuntimeError(f"bare container never healthy: {health.reason}")
    return elapsed


def spec(image: str, deployment_id: int, port: int, revision: int = 1) -> ContainerSpec:
    return ContainerSpec.with_limits(
        cpu_limit="0.5",
        memory_limit="64m",
        name=f"borgos-{TENANT}-{deployment_id}",
        image=image,
        tenant=TENANT,
        deployment_id=deployment_id,
        revision=revision,
        host="bench",
        host_port=port,
        health_path="/health",
    )


def facade_run(image: str, deployment_id: int) -> float:
    started = time.perf_counter()
    result = docker_deploy.rollout(
        spec(image, deployment_id, docker_deploy.free_port()),
        current_container_id=None,
        health_timeout=HEALTH_TIMEOUT,
    )
    elapsed = time.perf_counter() - started
    if not result.healthy or result.container_id is None:
        raise RuntimeError(f"façade deploy never healthy: {result.reason}")
    docker_deploy.remove(result.container_id)
    return elapsed


class GapWatcher:
    """Polls the port every 10 ms and records the longest stretch without a 200."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.longest = 0.0
        self._failing = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> GapWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        # Let the watcher see the port answer again, or the gap it is in would not be counted.
        deadline = time.perf_counter() + 5
        while self._failing and time.perf_counter() < deadline:
            time.sleep(0.01)
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        failing_since: float | None = None
        while not self._stop.is_set():
            self._failing = failing_since is not None
            ok, _ = docker_health.probe_http("127.0.0.1", self.port, "/health", timeout=0.5)
            now = time.perf_counter()
            if ok and failing_since is not None:
                self.longest = max(self.longest, now - failing_since)
                failing_since = None
            elif not ok and failing_since is None:
                failing_since = now
            self._stop.wait(0.01)


def redeploys(image: str, deployment_id: int, count: int) -> tuple[list[float], list[float], list[float]]:
    port = docker_deploy.free_port()
    current = docker_deploy.rollout(
        spec(image, deployment_id, port), current_container_id=None, health_timeout=30
    )
    totals, gaps, observed = [], [], []
    for revision in range(2, count + 2):
        with GapWatcher(port) as watcher:
            started = time.perf_counter()
            result = docker_deploy.rollout(
                spec(image, deployment_id, port, revision),
                current_container_id=current.container_id,
                health_timeout=HEALTH_TIMEOUT,
            )
            totals.append(time.perf_counter() - started)
        if not result.healthy or result.swap_gap_seconds is None:
            raise RuntimeError(f"redeploy failed: {result.reason}")
        gaps.append(result.swap_gap_seconds)
        observed.append(watcher.longest)
        current = result
    if current.container_id:
        docker_deploy.remove(current.container_id)
    return totals, gaps, observed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    logging.getLogger("borgos").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as workdir:
        image = ensure_image(Path(workdir))
    bare_run(image)  # warm the engine and page cache for both paths
    bare, facade = [], []
    for run in range(args.runs):  # interleaved so drift hits both alike
        bare.append(bare_run(image))
        facade.append(facade_run(image, 1000 + run))
    totals, gaps, observed = redeploys(image, 2000, args.runs)
    ratio = median(facade) / median(bare)
    print(f"runs: {args.runs}")
    print(f"bare docker run -> healthy   median {median(bare) * 1000:7.1f} ms  (min {min(bare) * 1000:.1f})")
    print(
        f"façade rollout  -> healthy   median {median(facade) * 1000:7.1f} ms  (min {min(facade) * 1000:.1f})"
    )
    print(f"ratio façade / bare          {ratio:.2f}")
    print(f"same-port redeploy total     median {median(totals) * 1000:7.1f} ms")
    print(f"swap gap (façade measured)   median {median(gaps) * 1000:7.1f} ms  (max {max(gaps) * 1000:.1f})")
    print(
        f"gap seen by a 10 ms poller   median {median(observed) * 1000:7.1f} ms"
        f"  (max {max(observed) * 1000:.1f})"
    )
    print(f"redeploy / first deploy      {median(totals) / median(facade):.2f}")


if __name__ == "__main__":
    main()
