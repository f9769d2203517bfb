"""Run a deployment's container and replace it without dropping the port for longer than needed.

`rollout` is the one way a revision goes live. With a container already serving the port, the new
revision first runs as a *candidate* on a free port and must pass its health check there; only then
is the old container stopped and the new one started on the real port (published ports cannot move,
so the port sees one short gap, measured). A candidate that fails is removed and the old container
keeps serving, untouched."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import docker.errors
from docker.models.containers import Container

from chalicelib.logs import logger
from workers import docker_engine, docker_health
from workers.docker_images import image_exists
from workers.docker_spec import (
    LABEL_DEPLOYMENT,
    LABEL_HOST,
    LABEL_MANAGED,
    LABEL_PORT,
    LABEL_REVISION,
    LABEL_TENANT,
    ContainerSpec,
)

__all__ = [
    "ManagedContainer",
    "RolloutResult",
    "free_port",
    "image_exists",
    "logs",
    "managed_containers",
    "port_bound",
    "remove",
    "restart",
    "rollout",
    "start",
    "state",
    "stop",
]

LABEL_CANDIDATE = "borgos.candidate"
STOP_TIMEOUT_SECONDS = 10
LOG_TAIL = 200

PhaseCallback = Callable[[str, str], None]


@dataclass(frozen=True)
class RolloutResult:
    container_id: str | None  # the new container when healthy; None when the rollout failed
    image_id: str
    healthy: bool
    reason: str
    logs: str  # tail of the new container's output (kept even when it was removed)
    retired_container_id: str | None = None  # the old container, stopped and removed
    swap_gap_seconds: float | None = None  # same-port redeploy: port without a healthy server
    health_seconds: float = 0.0


@dataclass(frozen=True)
class ManagedContainer:
    id: str
    name: str
    state: str  # running | exited
    tenant: str
    deployment_id: int
    revision: int
    host: str
    host_port: int | None
    image_id: str
    candidate: bool


def _noop(phase: str, detail: str) -> None:
    return None


def rollout(
    spec: ContainerSpec,
    *,
    current_container_id: str | None,
    health_timeout: float,
    on_phase: PhaseCallback | None = None,
) -> RolloutResult:
    """Bring `spec` live on `spec.host_port` and retire `current_container_id` once the new one is
    healthy. Phases reported: starting, health_check, swapping, retiring, healthy | unhealthy."""
    phase = on_phase or _noop
    # An image id names itself (the deploy job runs images by id): no inspect needed.
    image_id = spec.image
    if not image_id.startswith("sha256:"):
        image_id = str(docker_engine.client().images.get(spec.image).id)
    old = _find(current_container_id)
    old_serving = old is not None and old.status == "running" and _published_port(old) == spec.host_port
    if old_serving:
        assert old is not None
        return _swap(spec, old, image_id, health_timeout, phase)
    container, health, output = _run_checked(spec, spec.host_port, health_timeout, phase, candidate=False)
    if container is None or not health.healthy:
        phase("unhealthy", health.reason)
        return RolloutResult(None, image_id, False, health.reason, output, health_seconds=health.elapsed)
    retired = None
    if old is not None:
        phase("retiring", f"removing previous container {old.short_id}")
        _discard(old)
        retired = str(old.id)
    phase("healthy", health.reason)
    return RolloutResult(
        str(container.id), image_id, True, health.reason, output, retired, health_seconds=health.elapsed
    )


def _swap(
    spec: ContainerSpec, old: Container, image_id: str, timeout: float, phase: PhaseCallback
) -> RolloutResult:
    candidate, health, output = _run_checked(spec, free_port(), timeout, phase, candidate=True)
    if candidate is None or not health.healthy:
        phase("unhealthy", f"{health.reason}; previous container {old.short_id} keeps serving")
        return RolloutResult(None, image_id, False, health.reason, output, health_seconds=health.elapsed)
    candidate_health = health
    _discard(candidate)
    # Created before the old one stops, so the gap is only stop + start + first healthy answer.
    final = _create(spec, spec.host_port, candidate=False)
    phase("swapping", f"moving port {spec.host_port} from {old.short_id} to {final.short_id}")
    gap_started = time.monotonic()
    old.stop(timeout=STOP_TIMEOUT_SECONDS)
    try:
        final.start()
        health = docker_health.wait_healthy(
            _probe(spec, final, spec.host_port), timeout=timeout, alive=_alive(final)
        )
    except docker.errors.APIError as exc:
        health = docker_health.HealthResult(False, f"start failed: {exc.explanation or exc}", 0.0, 0)
    gap = time.monotonic() - gap_started
    if not health.healthy:
        output = _tail(final)
        _discard(final)
        old.start()  # the previous revision goes back on its port
        reason = f"swap failed: {health.reason}; previous container {old.short_id} restored"
        phase("unhealthy", reason)
        return RolloutResult(None, image_id, False, reason, output, swap_gap_seconds=gap)
    phase("retiring", f"removing previous container {old.short_id}")
    _discard(old)
    phase("healthy", health.reason)
    return RolloutResult(
        str(final.id),
        image_id,
        True,
        health.reason,
        _tail(final),
        retired_container_id=str(old.id),
        swap_gap_seconds=gap,
        health_seconds=candidate_health.elapsed,
    )


def _run_checked(
    spec: ContainerSpec, port: int, timeout: float, phase: PhaseCallback, *, candidate: bool
) -> tuple[Container | None, docker_health.HealthResult, str]:
    """Create, start and health-check a container on `port`. A container that fails is removed (its
    output is returned); a healthy one is returned running."""
    container = _create(spec, port, candidate=candidate)
    what = "candidate" if candidate else "container"
    phase("starting", f"{what} {container.short_id} on port {port}")
    try:
        container.start()
    except docker.errors.APIError as exc:
        _discard(container)
        reason = f"start failed: {exc.explanation or exc}"
        return None, docker_health.HealthResult(False, reason, 0.0, 0), ""
    phase("health_check", _probe_description(spec, port))
    health = docker_health.wait_healthy(
        _probe(spec, container, port), timeout=timeout, alive=_alive(container)
    )
    if health.healthy:
        return container, health, _tail(container)
    output = _tail(container)
    _discard(container)
    return None, health, output


def _create(spec: ContainerSpec, port: int, *, candidate: bool) -> Container:
    labels = {**spec.labels, LABEL_PORT: str(port)}
    if candidate:
        labels[LABEL_CANDIDATE] = "1"
    restart: dict[str, Any] = {"Name": spec.restart_policy}
    if spec.restart_policy == "on-failure":
        restart["MaximumRetryCount"] = 5
    return docker_engine.client().containers.create(
        spec.image,
        command=spec.command,
        name=f"{spec.name}-{uuid.uuid4().hex[:8]}",
        ports={f"{spec.container_port}/tcp": port},
        environment=dict(spec.environment),
        nano_cpus=spec.nano_cpus,
        mem_limit=spec.mem_limit,
        labels=labels,
        # A candidate must not come back by itself if it is stopped half way.
        restart_policy={"Name": "no"} if candidate else restart,
        init=spec.init,
    )


def _probe(spec: ContainerSpec, container: Container, port: int) -> Callable[[], tuple[bool, str]]:
    """Wait on the container's own address (no proxy in between that could hold a connection while
    the application starts), then confirm through the published port as a client would see it."""
    address: list[str] = []

    def own_address() -> str | None:
        if not address:
            found = _container_address(container)
            if found:
                address.append(found)
        return address[0] if address else None

    def check() -> tuple[bool, str]:
        inside = own_address()
        if not inside:
            return False, "container has no address yet"
        if not spec.health_path:
            return docker_health.probe_tcp(inside, spec.container_port)
        ok, reason = docker_health.probe_http(inside, spec.container_port, spec.health_path)
        if not ok:
            return ok, reason
        return docker_health.probe_http("127.0.0.1", port, spec.health_path)

    return check


def _probe_description(spec: ContainerSpec, port: int) -> str:
    if spec.health_path:
        return f"GET http://127.0.0.1:{port}{spec.health_path}"
    return f"TCP port {spec.container_port} of the container"


def _alive(container: Container) -> Callable[[], str | None]:
    """Why the container can no longer become healthy, or None. A restart since it was started means
    it exited, even when the poll only ever sees it running again (a slow engine, a fast restart)."""

    def check() -> str | None:
        try:
            container.reload()
        except docker.errors.NotFound:
            return "container disappeared"
        code = container.attrs.get("State", {}).get("ExitCode")
        if container.status in ("exited", "dead", "restarting"):
            return f"container exited with code {code}"
        restarts = int(container.attrs.get("RestartCount") or 0)
        if restarts:
            return f"container exited and was restarted {restarts} time(s)"
        return None

    return check


def _container_address(container: Container) -> str | None:
    container.reload()
    for network in (container.attrs.get("NetworkSettings", {}).get("Networks") or {}).values():
        if network.get("IPAddress"):
            return str(network["IPAddress"])
    return None


def _published_port(container: Container) -> int | None:
    bindings = container.attrs.get("HostConfig", {}).get("PortBindings") or {}
    for entries in bindings.values():
        for entry in entries or []:
            if entry.get("HostPort"):
                return int(entry["HostPort"])
    return None


def _find(container_id: str | None) -> Container | None:
    if not container_id:
        return None
    try:
        return docker_engine.client().containers.get(container_id)
    except docker.errors.NotFound:
        return None


def _discard(container: Container) -> None:
    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        logger.warning("could not remove container", extra={"container": container.id, "error": str(exc)})


def _tail(container: Container, tail: int = LOG_TAIL) -> str:
    try:
        return bytes(container.logs(tail=tail)).decode("utf-8", "replace")
    except docker.errors.APIError:
        return ""


# Lifecycle of one container. Missing containers are not errors where the intent already holds.


def stop(container_id: str, timeout: int = STOP_TIMEOUT_SECONDS) -> bool:
    """Stop (the restart policy no longer applies). False when the container does not exist."""
    container = _find(container_id)
    if container is None:
        return False
    container.stop(timeout=timeout)
    return True


def start(container_id: str) -> bool:
    container = _find(container_id)
    if container is None:
        return False
    container.start()
    return True


def restart(container_id: str, timeout: int = STOP_TIMEOUT_SECONDS) -> bool:
    container = _find(container_id)
    if container is None:
        return False
    container.restart(timeout=timeout)
    return True


def remove(container_id: str) -> bool:
    """Stop and delete. False when it was already gone."""
    container = _find(container_id)
    if container is None:
        return False
    _discard(container)
    return True


def logs(container_id: str, tail: int = LOG_TAIL) -> str:
    container = _find(container_id)
    return _tail(container, tail) if container is not None else ""


def state(container_id: str) -> str:
    """running | exited (any other non-running state) | missing."""
    container = _find(container_id)
    if container is None:
        return "missing"
    return "running" if container.status == "running" else "exited"


def managed_containers(
    *, host: str | None = None, tenant: str | None = None, deployment_id: int | None = None
) -> list[ManagedContainer]:
    """BorgOS containers on this engine (running or not), narrowed by owner host, tenant, deployment."""
    filters = [f"{LABEL_MANAGED}=1"]
    if host is not None:
        filters.append(f"{LABEL_HOST}={host}")
    if tenant is not None:
        filters.append(f"{LABEL_TENANT}={tenant}")
    if deployment_id is not None:
        filters.append(f"{LABEL_DEPLOYMENT}={deployment_id}")
    found = docker_engine.client().containers.list(all=True, filters={"label": filters})
    result = []
    for container in found:
        labels = container.labels
        port = labels.get(LABEL_PORT)
        result.append(
            ManagedContainer(
                id=str(container.id),
                name=container.name or "",
                state="running" if container.status == "running" else "exited",
                tenant=labels.get(LABEL_TENANT, ""),
                deployment_id=int(labels.get(LABEL_DEPLOYMENT, "0")),
                revision=int(labels.get(LABEL_REVISION, "0")),
                host=labels.get(LABEL_HOST, ""),
                host_port=int(port) if port else None,
                image_id=str(container.attrs.get("Image", "")),
                candidate=labels.get(LABEL_CANDIDATE) == "1",
            )
        )
    return result


def published_ports() -> set[int]:
    """Host ports published by running containers (all of them, BorgOS or not)."""
    ports: set[int] = set()
    for container in docker_engine.client().containers.list():
        for entries in (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).values():
            for entry in entries or []:
                if entry.get("HostPort"):
                    ports.add(int(entry["HostPort"]))
    return ports


def port_bound(port: int) -> bool:
    """Something on this machine holds the TCP port: a listening socket or a container's mapping."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR: connections in TIME_WAIT do not count, a listening socket still does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return True
    try:
        return port in published_ports()
    except (docker_engine.EngineUnavailable, docker.errors.DockerException):
        return False


def free_port() -> int:
    """A TCP port nothing listens on now (the candidate's temporary port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", 0))
        return int(sock.getsockname()[1])
