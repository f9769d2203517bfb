from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from chalicelib.models.common import ListQuery, Out, Strict

Severity = Literal["debug", "info", "warning", "error", "critical"]
SEVERITIES: tuple[str, ...] = ("debug", "info", "warning", "error", "critical")


class ErrorCreate(Strict):
    project_id: int = Field(ge=1)
    deployment_id: int | None = Field(default=None, ge=1)
    error_type: str = Field(min_length=1, max_length=64)
    severity: Severity = "error"
    message: str = Field(min_length=1, max_length=10_000)
    stack_trace: str | None = Field(default=None, max_length=65_536)
    context: dict[str, Any] = Field(default_factory=dict)
    occurred_at: datetime | None = Field(default=None, description="Default: when BorgOS receives it")


class ErrorListQuery(ListQuery):
    limit: int | None = Field(default=None, ge=1, le=500, description="Maximum results (default 100)")
    severity: Severity | None = None
    project_id: int | None = Field(default=None, ge=1)


class ErrorRecord(Out):
    id: int
    project_id: int
    project_name: str | None
    deployment_id: int | None
    error_type: str
    severity: str
    message: str
    stack_trace: str | None
    context: dict[str, Any]
    occurred_at: str
