"""The one adapter to Agent Zero's HTTP API (github.com/agent0ai/agent-zero, formerly frdel).

What BorgOS uses of that API:

- ``POST /api_message`` with header ``X-API-KEY`` and body
  ``{"message", "context_id"?, "attachments"?: [{"filename", "base64"}], "lifetime_hours"}``.
  200 answers ``{"context_id", "response"}``; errors are ``{"error": "..."}`` JSON (400 message
  missing, 404 unknown context, 500 agent failure), or plain text ("API key required", 401).
  The call returns when the agent has finished, which can take minutes.
- ``GET /health``: 200 ``{"gitinfo": {..., "version"}, "error"}`` while the server is up.

Agent Zero task runs happen on workers (this module is never imported by the Lambda). When no
Agent Zero answers, AgentZeroUnavailable says so; nothing here ever pretends a task succeeded.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field, ValidationError

logger = Logger(service="borgos", child=True)

DEFAULT_PORT = 8085
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
DEFAULT_LIFETIME_HOURS = 24
DEFAULT_TIMEOUT_S = 600.0  # an agent run takes minutes; the worker, not a user, is waiting
CONNECT_TIMEOUT_S = 5.0
_MAX_ERROR_TEXT = 300


class AgentZeroUnavailable(Exception):
    """No Agent Zero answered at the configured address (refused, unresolvable or timed out)."""


class AgentZeroError(Exception):
    """Agent Zero answered, with an error."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class Attachment(BaseModel):
    filename: str = Field(min_length=1)
    base64: str

    @classmethod
    def from_bytes(cls, filename: str, data: bytes) -> Attachment:
        return cls(filename=filename, base64=base64.b64encode(data).decode("ascii"))


class AgentZeroReply(BaseModel):
    context_id: str
    response: str


class AgentZeroHealth(BaseModel):
    reachable: bool
    version: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class AgentZeroConfig:
    base_url: str = DEFAULT_URL
    api_key: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AgentZeroConfig:
        env = os.environ if environ is None else environ
        return cls(
            base_url=env.get("BORGOS_AGENT_ZERO_URL") or DEFAULT_URL,
            api_key=env.get("BORGOS_AGENT_ZERO_API_KEY") or None,
            timeout_s=float(env.get("BORGOS_AGENT_ZERO_TIMEOUT_S") or DEFAULT_TIMEOUT_S),
        )


class AgentZeroClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        client: httpx.Client | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._http = client or httpx.Client(timeout=httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S))

    @classmethod
    def from_config(cls, config: AgentZeroConfig, client: httpx.Client | None = None) -> AgentZeroClient:
        return cls(config.base_url, config.api_key, client, timeout_s=config.timeout_s)

    def probe(self) -> AgentZeroHealth:
        """Ask ``GET /health``; never raises."""
        try:
            response = self._http.get(f"{self.base_url}/health", timeout=CONNECT_TIMEOUT_S)
        except httpx.HTTPError as exc:
            return AgentZeroHealth(reachable=False, error=_transport_problem(exc))
        if response.status_code != 200:
            return AgentZeroHealth(reachable=False, error=f"GET /health answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            return AgentZeroHealth(reachable=False, error="GET /health did not answer JSON")
        gitinfo = body.get("gitinfo") if isinstance(body, dict) else None
        version = gitinfo.get("version") if isinstance(gitinfo, dict) else None
        return AgentZeroHealth(reachable=True, version=version if isinstance(version, str) else None)

    def health(self) -> bool:
        return self.probe().reachable

    def send_message(
        self,
        message: str,
        context_id: str | None = None,
        attachments: Sequence[Attachment] = (),
        *,
        lifetime_hours: int = DEFAULT_LIFETIME_HOURS,
    ) -> AgentZeroReply:
        """Send one message to an agent chat (a new one unless ``context_id``) and wait for its reply."""
        if not message.strip():
            raise ValueError("message must not be empty")
        body: dict[str, Any] = {"message": message, "lifetime_hours": lifetime_hours}
        if context_id:
            body["context_id"] = context_id
        if attachments:
            body["attachments"] = [attachment.model_dump() for attachment in attachments]
        headers = {"X-API-KEY": self._api_key} if self._api_key else {}
        try:
            response = self._http.post(f"{self.base_url}/api_message", json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise AgentZeroUnavailable(
                f"Agent Zero at {self.base_url} is not reachable: {_transport_problem(exc)}"
            ) from None
        if response.status_code != 200:
            raise _api_error(response)
        try:
            return AgentZeroReply.model_validate_json(response.content)
        except ValidationError:
            raise AgentZeroError(
                "Agent Zero answered POST /api_message without {context_id, response}", status_code=200
            ) from None


def _transport_problem(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or host unknown"
    return type(exc).__name__


def _api_error(response: httpx.Response) -> AgentZeroError:
    status = response.status_code
    if status in (401, 403):
        return AgentZeroError("Agent Zero refused the API key (X-API-KEY)", status_code=status)
    detail = response.text.strip()
    try:
        parsed = response.json()
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        detail = parsed["error"]
    return AgentZeroError(
        f"Agent Zero answered HTTP {status}: {detail[:_MAX_ERROR_TEXT]}", status_code=status
    )


class AgentZeroTask(BaseModel):
    """An ``agent-zero`` task as ``POST /api/v1/agent-zero/execute`` stores it for the worker."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=64)
    description: str = Field(min_length=1, max_length=2000)
    prompt: str | None = Field(default=None, max_length=100_000)
    context: dict[str, Any] = Field(default_factory=dict)

    def to_message(self) -> str:
        """The message Agent Zero receives: the prompt first, then what frames it."""
        parts = [self.prompt or self.description, "", f"Task type: {self.type}"]
        if self.prompt:
            parts.append(f"Description: {self.description}")
        if self.context:
            parts.append(f"Context: {json.dumps(self.context, sort_keys=True)}")
        return "\n".join(parts)


def run_task(task: AgentZeroTask, client: AgentZeroClient, context_id: str | None = None) -> AgentZeroReply:
    """Forward one task to Agent Zero (the worker job wraps this with the task's status updates)."""
    logger.info("forwarding task to Agent Zero", task_type=task.type, agent_zero=client.base_url)
    return client.send_message(task.to_message(), context_id=context_id)
