from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.models.common import Out, Strict

HOST_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
MAX_REPORTED_PORTS = 2000


class HostRegistration(Strict):
    """What a worker host says about itself when it starts."""

    name: str = Field(pattern=HOST_NAME_PATTERN)
    address: str = Field(min_length=1, max_length=255)
    cpu_count: int = Field(ge=1)
    memory_bytes: int = Field(ge=0)
    docker_version: str | None = None


class HostMetrics(Strict):
    """One heartbeat's measurements."""

    cpu_percent: float = Field(ge=0, le=100)
    memory_percent: float = Field(ge=0, le=100)
    disk_percent: float = Field(ge=0, le=100)
    uptime_seconds: int = Field(default=0, ge=0)
    containers_running: int = Field(default=0, ge=0)
    containers_total: int = Field(default=0, ge=0)
    containers_managed: int = Field(default=0, ge=0)  # BorgOS containers owned by this host
    listening_ports: list[int] = Field(default_factory=list, max_length=MAX_REPORTED_PORTS)
    queue_depth: dict[str, int] = Field(default_factory=dict)  # RQ queues this host serves
    docker_up: bool = True


class HostOut(Out):
    name: str
    tenant: str
    address: str
    cpu_count: int
    memory_bytes: int
    docker_version: str | None = None
    status: Literal["online", "offline"]
    registered_at: str
    last_heartbeat: str | None = None
    heartbeat_age_seconds: float | None = None
    metrics: HostMetrics | None = None
