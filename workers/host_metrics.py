"""What a worker host reports about itself: at registration (size, Docker version) and in each
heartbeat (load, containers, listening TCP ports, queue depths)."""

from __future__ import annotations

import socket
import time
from typing import Any

import psutil

from chalicelib.logs import logger
from chalicelib.models.hosts import MAX_REPORTED_PORTS, HostMetrics, HostRegistration
from workers import docker_engine
from workers.docker_spec import LABEL_HOST, LABEL_MANAGED


def primary_address() -> str:
    """The address other machines would reach this host on (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 1))
            return str(sock.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def registration(name: str, address: str | None = None) -> HostRegistration:
    psutil.cpu_percent(interval=None)  # starts the measurement the first heartbeat reads
    return HostRegistration(
        name=name,
        address=address or primary_address(),
        cpu_count=psutil.cpu_count() or 1,
        memory_bytes=psutil.virtual_memory().total,
        docker_version=docker_engine.engine_version(),
    )


def listening_ports() -> set[int]:
    ports = set()
    try:
        for connection in psutil.net_connections(kind="tcp"):
            if connection.status == psutil.CONN_LISTEN and connection.laddr:
                ports.add(int(connection.laddr.port))
    except (psutil.AccessDenied, OSError) as exc:
        logger.warning("cannot list listening sockets", extra={"error": str(exc)})
    return ports


def container_counts(host: str) -> tuple[bool, int, int, int, set[int]]:
    """(engine up, running, total, managed by this host, published ports)."""
    try:
        containers = docker_engine.client().containers.list(all=True)
    except Exception as exc:  # the engine down must not stop the heartbeat
        logger.warning("docker engine unavailable for heartbeat", extra={"error": str(exc)})
        docker_engine.reset_client()
        return False, 0, 0, 0, set()
    running = [c for c in containers if c.status == "running"]
    managed = [
        c for c in containers if c.labels.get(LABEL_MANAGED) == "1" and c.labels.get(LABEL_HOST) == host
    ]
    published: set[int] = set()
    for container in running:
        for entries in (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).values():
            published.update(int(e["HostPort"]) for e in entries or [] if e.get("HostPort"))
    return True, len(running), len(containers), len(managed), published


def queue_depths(connection: Any, queues: list[str]) -> dict[str, int]:
    from rq import Queue

    try:
        return {name: Queue(name, connection=connection).count for name in queues}
    except Exception as exc:  # Redis down: report no depths rather than no heartbeat
        logger.warning("cannot read queue depths", extra={"error": str(exc)})
        return {}


def sample(host: str, connection: Any, queues: list[str]) -> HostMetrics:
    docker_up, running, total, managed, published = container_counts(host)
    ports = sorted(listening_ports() | published)[:MAX_REPORTED_PORTS]
    return HostMetrics(
        cpu_percent=psutil.cpu_percent(interval=None),
        memory_percent=psutil.virtual_memory().percent,
        disk_percent=psutil.disk_usage("/").percent,
        uptime_seconds=int(time.time() - psutil.boot_time()),
        containers_running=running,
        containers_total=total,
        containers_managed=managed,
        listening_ports=ports,
        queue_depth=queue_depths(connection, queues),
        docker_up=docker_up,
    )
