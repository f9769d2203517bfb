"""Deployment requests and replies (the reference's shapes plus status history and revisions)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from chalicelib.models.common import ListQuery, Out, Strict
from chalicelib.models.hosts import HOST_NAME_PATTERN

Status = Literal["pending", "building", "starting", "running", "failed", "stopped", "cancelled"]
STATUSES: tuple[str, ...] = ("pending", "building", "starting", "running", "failed", "stopped", "cancelled")
Action = Literal["stop", "restart", "cancel", "redeploy"]

# A deployment name becomes part of container names and labels: DNS-label-like, 1-63 characters.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# An image reference (registry/repo:tag or @digest) or a local image id.
IMAGE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/@+-]{0,254}$")
HEALTH_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]{0,511}$")
MAX_ENV = 100
MAX_ENV_VALUE = 8192


def _check_environment(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return None
    if len(value) > MAX_ENV:
        raise ValueError(f"at most {MAX_ENV} variables")
    for key, item in value.items():
        if not ENV_KEY.match(key):
            raise ValueError(f"variable name {key!r} must match [A-Za-z_][A-Za-z0-9_]*")
        if len(item) > MAX_ENV_VALUE or "\x00" in item:
            raise ValueError(f"value of {key} must be under {MAX_ENV_VALUE} characters without NUL")
    return value


def _check_name(value: str) -> str:
    if not NAME_PATTERN.match(value):
        raise ValueError(
            "must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        )
    return value


def _check_image(value: str | None) -> str | None:
    if value is not None and not IMAGE_PATTERN.match(value):
        raise ValueError("must be an image reference like 'nginx:1.27' or an image id")
    return value


def _check_health_path(value: str | None) -> str | None:
    if value is not None and not HEALTH_PATH.match(value):
        raise ValueError("must be a URL path starting with '/'")
    return value


class DeployRequest(Strict):
    """POST /api/v1/deploy: the reference's body plus `image`, `host` and `health_check_path`."""

    project_id: int = Field(ge=1)
    name: str
    port: int = Field(ge=1024, le=65535, description="Host port (1024-65535)")
    container_port: int | None = Field(
        default=None, ge=1, le=65535, description="Port the app listens on inside (default: port)"
    )
    environment: dict[str, str] = Field(default_factory=dict)
    cpu_limit: str | None = Field(default=None, max_length=16, description='CPUs, e.g. "0.5"')
    memory_limit: str | None = Field(default=None, max_length=16, description='Memory, e.g. "512m"')
    image: str | None = Field(default=None, description="Run this image instead of building the project")
    host: str | None = Field(
        default=None, pattern=HOST_NAME_PATTERN, description="Worker host (default: an online one)"
    )
    health_check_path: str = Field(default="/health")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value)

    @field_validator("environment")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str] | None:
        return _check_environment(value)

    @field_validator("image")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        return _check_image(value)

    @field_validator("health_check_path")
    @classmethod
    def _health(cls, value: str) -> str | None:
        return _check_health_path(value)


class RedeployRequest(Strict):
    """POST /api/v1/deployments/{id}/redeploy: a new revision, optionally with changed settings."""

    environment: dict[str, str] | None = None
    cpu_limit: str | None = Field(default=None, max_length=16)
    memory_limit: str | None = Field(default=None, max_length=16)
    image: str | None = None
    health_check_path: str | None = None

    @field_validator("environment")
    @classmethod
    def _env(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return _check_environment(value)

    @field_validator("image")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        return _check_image(value)

    @field_validator("health_check_path")
    @classmethod
    def _health(cls, value: str | None) -> str | None:
        return _check_health_path(value)


class RollbackRequest(Strict):
    revision: int = Field(ge=1, description="The revision whose configuration and image to run again")


class DeploymentListQuery(ListQuery):
    status: Status | None = None
    project_id: int | None = Field(default=None, ge=1)


class StatusChange(Out):
    status: str
    at: str
    reason: str | None = None
    revision: int | None = None


class Deployment(Out):
    id: int
    project_id: int
    name: str
    port: int
    status: str
    container_id: str | None = None
    url: str
    health_check_url: str
    environment: dict[str, str]
    cpu_limit: str | None = None
    memory_limit: str | None = None
    started_at: str | None = None
    host: str
    image: str | None = None
    image_id: str | None = None
    revision: int
    serving_revision: int | None = None
    status_reason: str | None = None
    created_at: str
    updated_at: str


class DeploymentDetail(Deployment):
    status_history: list[StatusChange]
    job: str | None = None


class Revision(Out):
    revision: int
    status: str
    reason: str | None = None
    image: str | None = None
    image_id: str | None = None
    image_available: bool = True
    container_id: str | None = None
    config: dict[str, Any]
    rollback_of: int | None = None
    created_at: str
    finished_at: str | None = None


class DeploymentLogs(Out):
    deployment_id: int
    revision: int | None
    build_log: str
    container_log: str
    captured_at: str | None = None
