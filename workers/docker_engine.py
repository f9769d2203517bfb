"""The one Docker client of a worker process (from the environment: DOCKER_HOST or the local socket)."""

from __future__ import annotations

from functools import cache
from typing import Any

import docker
import docker.errors

ENGINE_TIMEOUT_SECONDS = 120


class EngineUnavailable(RuntimeError):
    """The Docker engine does not answer; the caller decides whether to retry."""


@cache
def client() -> docker.DockerClient:
    try:
        engine = docker.from_env(timeout=ENGINE_TIMEOUT_SECONDS)
        engine.ping()
    except docker.errors.DockerException as exc:
        raise EngineUnavailable(f"Docker engine unavailable: {exc}") from exc
    return engine


def reset_client() -> None:
    """Forget the cached client (after the daemon restarted, or in a forked process)."""
    client.cache_clear()


def engine_version() -> str | None:
    """The server version, or None when the engine is down (a host still reports itself)."""
    try:
        return str(client().version().get("Version"))
    except (EngineUnavailable, docker.errors.DockerException):
        return None


def api() -> Any:
    """The low-level API client, for streaming builds and raw inspects."""
    return client().api
