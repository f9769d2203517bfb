"""Request and response shapes of /api/v1/scheduler/tasks (pydantic v2, the API edge).

Validation errors name the field the client sent: `cron`, `tz` (or `timezone` when the client
used that spelling), `name`, `action.<type>.<field>`, `retry.<field>`, `catch_up.<field>`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from chalicelib.models.common import Model
from chalicelib.scheduling.cron import load_zone, validate_cron
from chalicelib.scheduling.errors import ScheduleFieldError
from chalicelib.webhooks.errors import WebhookError
from chalicelib.webhooks.signing import generate_secret, normalize_secret
from chalicelib.webhooks.targets import parse_target

NAME_PATTERN = r"^[A-Za-z0-9-]{1,64}$"
DEFAULT_TZ = "UTC"


class _Strict(Model):
    """Request models refuse unknown fields: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


def _webhook_url(value: str) -> str:
    try:
        parse_target(value)  # syntax only: the target is resolved and checked at call time
    except WebhookError as exc:
        raise PydanticCustomError("webhook_url", "{problem}", {"problem": str(exc)}) from None
    return value


def _webhook_secret(value: str) -> str:
    try:
        return normalize_secret(value)
    except (WebhookError, ValueError) as exc:
        raise PydanticCustomError("webhook_secret", "{problem}", {"problem": str(exc)}) from None


# --- actions -------------------------------------------------------------------------------------


class ScanAction(_Strict):
    type: Literal["scan"]
    project_id: int = Field(ge=1)


class DeploymentAction(_Strict):
    type: Literal["deploy", "restart"]
    deployment_id: int = Field(ge=1)


class AgentTaskAction(_Strict):
    """The body of POST /api/v1/agent/task, queued when the schedule fires."""

    type: Literal["agent_task"]
    project_id: int = Field(ge=1)
    agent_type: str = Field(default="agent-zero", min_length=1, max_length=64)
    task_type: str = Field(min_length=1, max_length=64)
    description: str = Field(min_length=1, max_length=2000)
    priority: int = Field(default=1, ge=0, le=10)
    input_data: dict[str, Any] = Field(default_factory=dict)


class WebhookAction(_Strict):
    """Call a configured outbound webhook (`webhook_id`) or a URL (`url`, signed with `secret`;
    a secret is generated when none is given). `payload` goes into the body's `data.payload`."""

    type: Literal["webhook"]
    webhook_id: int | None = Field(default=None, ge=1)
    url: str | None = Field(default=None, max_length=2048)
    secret: str | None = Field(default=None, min_length=1, max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _one_target(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if info.data.get("webhook_id") is not None:
            raise PydanticCustomError("webhook_target", "give webhook_id or url, not both")
        return _webhook_url(value)

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        return None if value is None else _webhook_secret(value)

    @model_validator(mode="after")
    def _target_given(self) -> WebhookAction:
        if self.webhook_id is None and self.url is None:
            raise PydanticCustomError("webhook_target", "give webhook_id or url")
        if self.url is None and self.secret is not None:
            raise PydanticCustomError(
                "webhook_target", "secret goes with url, a configured webhook has its own"
            )
        if self.url is not None and self.secret is None:
            self.secret = generate_secret()
        return self


Action = Annotated[
    ScanAction | DeploymentAction | AgentTaskAction | WebhookAction,
    Field(discriminator="type"),
]


# --- policies ------------------------------------------------------------------------------------


class RetryPolicy(_Strict):
    """Failed runs are retried `max_retries` times, waiting base * 2**(n-1) seconds (capped, jittered)."""

    max_retries: int = Field(default=0, ge=0, le=10)
    backoff_seconds: int = Field(default=60, ge=1, le=3600)
    max_backoff_seconds: int = Field(default=3600, ge=1, le=86_400)

    @field_validator("max_backoff_seconds")
    @classmethod
    def _cap_not_below_base(cls, value: int, info: ValidationInfo) -> int:
        base = info.data.get("backoff_seconds")
        if base is not None and value < base:
            raise PydanticCustomError(
                "backoff_cap", "must be at least backoff_seconds ({base})", {"base": base}
            )
        return value


CatchUpMode = Literal["none", "latest", "all"]


class CatchUpPolicy(_Strict):
    """What to do with runs missed during downtime (older than the late-tick tolerance).

    none: drop them. latest: run the newest one, unless an on-time run is being enqueued anyway.
    all: run the newest `max_runs` of them, oldest first. A bare string ("all") is accepted.
    """

    mode: CatchUpMode = "latest"
    max_runs: int = Field(default=10, ge=1, le=100)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"mode": value} if isinstance(value, str) else value


# --- tasks ---------------------------------------------------------------------------------------


def _cron(value: str) -> str:
    try:
        return validate_cron(value)
    except ScheduleFieldError as exc:
        raise PydanticCustomError("cron_invalid", "{problem}", {"problem": exc.problem}) from None


def _tz(value: str) -> str:
    try:
        return load_zone(value).key
    except ScheduleFieldError as exc:
        raise PydanticCustomError("tz_unknown", "{problem}", {"problem": exc.problem}) from None


TZ_ALIASES = AliasChoices("tz", "timezone")


class SchedulerTaskCreate(_Strict):
    name: str = Field(pattern=NAME_PATTERN, description="1-64 letters, digits and hyphens")
    cron: str = Field(description="Five-field cron expression, e.g. '0 9 * * 1-5'")
    tz: str = Field(default=DEFAULT_TZ, validation_alias=TZ_ALIASES, description="IANA time zone")
    action: Action
    enabled: StrictBool = True
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    catch_up: CatchUpPolicy = Field(default_factory=CatchUpPolicy)

    _check_cron = field_validator("cron", mode="before")(classmethod(lambda cls, v: _cron(v)))
    _check_tz = field_validator("tz", mode="before")(classmethod(lambda cls, v: _tz(v)))


class SchedulerTaskUpdate(_Strict):
    """Partial update (PUT): only the fields sent change; nested objects are replaced whole."""

    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    cron: str | None = None
    tz: str | None = Field(default=None, validation_alias=TZ_ALIASES)
    action: Action | None = None
    enabled: StrictBool | None = None
    retry: RetryPolicy | None = None
    catch_up: CatchUpPolicy | None = None

    @field_validator("cron", mode="before")
    @classmethod
    def _check_cron(cls, value: Any) -> Any:
        return None if value is None else _cron(value)

    @field_validator("tz", mode="before")
    @classmethod
    def _check_tz(cls, value: Any) -> Any:
        return None if value is None else _tz(value)

    @field_validator("*", mode="after")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for fields the client sent: an explicit null is an error, not "unchanged".
        if value is None:
            raise PydanticCustomError("null_field", "must not be null")
        return value

    def apply_to(self, current: SchedulerTaskCreate) -> SchedulerTaskCreate:
        """The task as it is after this update."""
        changes = {name: getattr(self, name) for name in self.model_fields_set}
        return SchedulerTaskCreate.model_validate({**current.model_dump(), **changes})

    def changes_schedule(self, current: SchedulerTaskCreate) -> bool:
        """True when the cron expression or the zone differ: the schedule cursor must restart."""
        new = self.apply_to(current)
        return (new.cron, new.tz) != (current.cron, current.tz)


class SchedulerToggle(_Strict):
    """Body of POST /scheduler/tasks/{id}/toggle."""

    enabled: StrictBool


# --- runs ----------------------------------------------------------------------------------------

RunStatus = Literal["pending", "running", "retrying", "completed", "failed", "cancelled"]
RunTrigger = Literal["schedule", "catch_up", "manual"]
FINISHED: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


class RunRecord(Model):
    """One run as GET /scheduler/tasks/{id}/runs shows it."""

    model_config = ConfigDict(defer_build=True)

    id: str = Field(description="The run key: unique per task and scheduled time")
    task_id: str
    trigger: RunTrigger
    scheduled_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    status: RunStatus = "pending"
    attempt: int = Field(default=0, ge=0, description="Attempts started so far")
    next_retry_at: datetime | None = None
    output: Any = None
    error: str | None = None


class SchedulerTask(Model):
    """A task as the API shows it. A URL webhook's secret is shown whole only when it is created."""

    model_config = ConfigDict(defer_build=True)

    id: int
    name: str
    cron: str
    tz: str
    action: dict[str, Any]
    enabled: bool
    retry: RetryPolicy
    catch_up: CatchUpPolicy
    next_run_at: datetime | None = Field(description="The next scheduled instant (UTC), None while disabled")
    created_at: str
    updated_at: str
