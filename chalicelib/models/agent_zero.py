from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from chalicelib.models.common import Out, Strict
from chalicelib.models.hosts import HOST_NAME_PATTERN

DEFAULT_PORT = 8085
DEFAULT_IMAGE = "agent0ai/agent-zero"


class AgentZeroStart(Strict):
    """`POST /api/v1/agent-zero/start`: where and how the instance runs.

    `container` runs `image` on `host` publishing `port`; `process` runs `run_ui.py` from
    `directory` on `host`; `external` registers an instance someone else runs at `url`."""

    mode: Literal["container", "process", "external"] = "container"
    host: str | None = Field(
        default=None, pattern=HOST_NAME_PATTERN, description="Worker host; default: any agents worker"
    )
    port: int = Field(default=DEFAULT_PORT, ge=1024, le=65535)
    image: str = Field(default=DEFAULT_IMAGE, min_length=1, max_length=256)
    directory: str | None = Field(default=None, min_length=2, max_length=1024)
    url: str | None = Field(default=None, max_length=2048)

    @field_validator("directory")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError("must be an absolute path")
        return value

    @field_validator("url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _mode_needs(self) -> AgentZeroStart:
        if self.mode == "process" and not self.directory:
            raise ValueError("directory: a process instance needs the Agent Zero directory")
        if self.mode == "external" and not self.url:
            raise ValueError("url: an external instance needs its url")
        return self


class AgentZeroStatus(Out):
    """The reference's status, plus what BorgOS records about the instance."""

    running: bool
    state: str
    port: int
    process_id: int | None = None
    container_id: str | None = None
    directory: str | None = None
    ui_url: str | None = None
    mode: str | None = None
    host: str | None = None
    version: str | None = None
    error: str | None = None
    updated_at: str | None = None


class AgentZeroStartReply(Out):
    success: bool
    status: AgentZeroStatus
