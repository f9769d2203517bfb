from __future__ import annotations

import posixpath
from typing import Any

from pydantic import Field, field_validator

from chalicelib.models.common import ListQuery, Out, Strict

NAME = Field(min_length=1, max_length=128)


def _clean_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("must be an absolute path")
    if "\x00" in value or any(part == ".." for part in value.split("/")):
        raise ValueError("must not contain '..' or NUL")
    return posixpath.normpath(value)


def _clean_stack(values: list[str]) -> list[str]:
    cleaned = []
    for value in values:
        item = value.strip().lower()
        if not item or len(item) > 64:
            raise ValueError("entries must be 1-64 characters")
        if item not in cleaned:
            cleaned.append(item)
    return cleaned


class ProjectCreate(Strict):
    name: str = NAME
    path: str = Field(min_length=1, max_length=1024)
    project_type: str = Field(default="web", min_length=1, max_length=32)
    tech_stack: list[str] = Field(default_factory=list, max_length=50)
    description: str | None = Field(default=None, max_length=2000)
    zenith_id: str | None = Field(default=None, max_length=128)
    metadata: dict[str, Any] = Field(default_factory=dict)
    is_active: bool = True
    host: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Worker host holding the files"
    )

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _clean_path(value)

    @field_validator("tech_stack")
    @classmethod
    def _stack(cls, value: list[str]) -> list[str]:
        return _clean_stack(value)


class ProjectUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=128)
    path: str | None = Field(default=None, min_length=1, max_length=1024)
    project_type: str | None = Field(default=None, min_length=1, max_length=32)
    tech_stack: list[str] | None = Field(default=None, max_length=50)
    description: str | None = Field(default=None, max_length=2000)
    zenith_id: str | None = Field(default=None, max_length=128)
    metadata: dict[str, Any] | None = None
    is_active: bool | None = None
    host: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return None if value is None else _clean_path(value)

    @field_validator("tech_stack")
    @classmethod
    def _stack(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _clean_stack(value)


class ProjectListQuery(ListQuery):
    active: bool | None = Field(default=None, description="Only active (true) or inactive (false) projects")
    tech_stack: str | None = Field(default=None, min_length=1, max_length=64, description="Projects using it")


class ScanError(Out):
    type: str
    file: str | None = None
    line: int | None = None
    message: str


class DeploymentSummary(Out):
    id: int
    port: int | None = None
    status: str


class Project(Out):
    id: int
    name: str
    path: str
    zenith_id: str | None = None
    project_type: str
    tech_stack: list[str]
    description: str | None = None
    health_score: int
    vibe_score: int
    eco_score: int
    errors: list[ScanError]
    metadata: dict[str, Any]
    is_active: bool
    host: str | None = None
    scan_status: str | None = None
    # Why the last scan failed (a refused path, an unreadable tree); None once a scan completes.
    scan_message: str | None = None
    last_scan_at: str | None = None
    created_at: str
    updated_at: str


class ProjectDetail(Project):
    deployments: list[DeploymentSummary]
