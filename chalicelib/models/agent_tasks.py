"""Agent tasks at the API edge: the reference's create body and list item, plus the per-type input
each built-in agent accepts (checked at create time, so a task never fails later for bad input)."""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, field_validator

from chalicelib.models.common import ListQuery, Model, Out, Strict
from chalicelib.models.hosts import HOST_NAME_PATTERN

TaskStatus = Literal["pending", "running", "completed", "failed", "cancelled"]
TASK_STATUSES: tuple[str, ...] = ("pending", "running", "completed", "failed", "cancelled")
FINISHED_STATUSES = frozenset({"completed", "failed", "cancelled"})


class AgentTaskCreate(Strict):
    """`POST /api/v1/agent/task` (the reference's body)."""

    project_id: int | None = Field(default=None, ge=1)
    agent_type: str = Field(min_length=1, max_length=64)
    task_type: str = Field(default="automation", min_length=1, max_length=64)
    description: str = Field(min_length=1, max_length=2000)
    priority: int = Field(default=5, ge=1, le=10, description="1 runs first, 10 last (default 5)")
    input_data: dict[str, Any] = Field(default_factory=dict)
    timeout_seconds: int | None = Field(
        default=None, ge=1, le=86_400, description="Default per agent type; log-monitor runs until cancelled"
    )
    host: str | None = Field(
        default=None,
        pattern=HOST_NAME_PATTERN,
        description="Run on this worker host (e.g. where the logs are); default: any agents worker",
    )


class AgentTaskListQuery(ListQuery):
    status: TaskStatus | None = None
    agent_type: str | None = Field(default=None, min_length=1, max_length=64)


class AgentTask(Out):
    """A list item (the reference's shape)."""

    id: int
    project_id: int | None
    agent_type: str
    task_type: str
    description: str
    status: str
    priority: int
    created_at: str


class AgentTaskDetail(AgentTask):
    input_data: dict[str, Any]
    output: Any = None
    error: str | None = None
    timeout_seconds: int | None = None
    cancel_requested: bool = False
    started_at: str | None = None
    finished_at: str | None = None
    updated_at: str
    duration_seconds: float | None = None


# Inputs of the built-in agent types ---------------------------------------------------------------


class _Input(Model):
    model_config = ConfigDict(extra="forbid")


DEFAULT_LOG_PATTERNS = ("ERROR", "CRITICAL", "FATAL", "Traceback", "Exception")


class LogMonitorInput(_Input):
    """Follow log files and record matching lines as the project's errors."""

    log_paths: list[str] = Field(min_length=1, max_length=20)
    alert_threshold: int = Field(default=5, ge=1, le=100_000)
    patterns: list[str] = Field(
        default_factory=lambda: list(DEFAULT_LOG_PATTERNS), min_length=1, max_length=50
    )
    severity: Literal["warning", "error", "critical"] = "error"
    from_start: bool = Field(
        default=False, description="Read what the files hold already (default: only new lines)"
    )

    @field_validator("log_paths")
    @classmethod
    def _absolute(cls, paths: list[str]) -> list[str]:
        for path in paths:
            if not path.startswith("/") or "\x00" in path or len(path) > 1024:
                raise ValueError(f"{path!r} must be an absolute path")
        return paths

    @field_validator("patterns")
    @classmethod
    def _regexes(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            if not pattern or len(pattern) > 500:
                raise ValueError("each pattern is 1 to 500 characters")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None
        return patterns


class ShellInput(_Input):
    """A command in a throwaway container: no network, the project read-only at /project."""

    command: str | list[str]
    cpus: float = Field(default=1.0, gt=0, le=8)
    memory_mb: int = Field(default=256, ge=16, le=16_384)

    @field_validator("command")
    @classmethod
    def _not_empty(cls, command: str | list[str]) -> str | list[str]:
        if isinstance(command, str):
            if not command.strip() or len(command) > 10_000:
                raise ValueError("must be 1 to 10000 characters")
        elif not command or any(not isinstance(part, str) or not part for part in command):
            raise ValueError("must be a non-empty list of non-empty strings")
        return command

    def argv(self) -> list[str]:
        return ["/bin/sh", "-c", self.command] if isinstance(self.command, str) else list(self.command)


class HttpCheckInput(_Input):
    """One HTTP request; the check passes on the expected status (and body text, if given)."""

    url: str = Field(min_length=1, max_length=2048)
    method: Literal["GET", "HEAD"] = "GET"
    expected_status: list[int] = Field(default_factory=lambda: [200], min_length=1, max_length=20)
    contains: str | None = Field(default=None, max_length=1000)
    request_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL with a host")
        return url

    @field_validator("expected_status")
    @classmethod
    def _statuses(cls, statuses: list[int]) -> list[int]:
        if any(not 100 <= status <= 599 for status in statuses):
            raise ValueError("statuses are 100 to 599")
        return statuses


class AgentZeroInput(Model):
    """What an `agent-zero` task forwards: an optional prompt and any context."""

    model_config = ConfigDict(extra="allow")

    prompt: str | None = Field(default=None, max_length=100_000)


class AgentZeroExecute(Strict):
    """`POST /api/v1/agent-zero/execute` (the reference's body)."""

    type: str = Field(min_length=1, max_length=64)
    description: str = Field(min_length=1, max_length=2000)
    prompt: str | None = Field(default=None, max_length=100_000)
    context: dict[str, Any] = Field(default_factory=dict)
    project_id: int | None = Field(default=None, ge=1)
    priority: int = Field(default=5, ge=1, le=10)
    timeout_seconds: int | None = Field(default=None, ge=1, le=86_400)
