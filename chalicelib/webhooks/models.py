"""Pydantic models at the edges of webhooks: what users send, what the delivery needs, what it records.

Time fields are timezone-aware, kept in UTC and serialized as RFC 3339 with a Z, to the second.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    ConfigDict,
    Field,
    JsonValue,
    field_serializer,
    field_validator,
    model_validator,
)

from chalicelib.models.common import Model
from chalicelib.webhooks import matching, signing, targets
from chalicelib.webhooks.retry import Action

MAX_DESCRIPTION_LENGTH = 500


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _url(value: str) -> str:
    targets.parse_target(value)  # syntax only: resolving needs the network and the deployment's policy
    return value


class HookAction(Model):
    """What `POST /webhooks/{id}/trigger` does: rescan a project, or redeploy its running deployments
    (rescan first, as a GitHub push does)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["scan", "redeploy"]
    project_id: int = Field(gt=0, lt=10**12)


class WebhookCreate(Model):
    """POST /webhooks body. A missing (or null) secret is generated; a plain secret becomes `whsec_`."""

    model_config = ConfigDict(extra="forbid")

    url: str
    events: list[str] = Field(min_length=1)
    secret: str = Field(default_factory=signing.generate_secret)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_LENGTH)
    enabled: bool = True
    action: HookAction | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _url(value)

    @field_validator("events")
    @classmethod
    def _check_events(cls, value: list[str]) -> list[str]:
        return matching.validate_patterns(value)

    @field_validator("secret", mode="before")
    @classmethod
    def _fill_secret(cls, value: Any) -> Any:
        return signing.generate_secret() if value is None else value

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: str) -> str:
        return signing.normalize_secret(value)


class WebhookUpdate(Model):
    """PATCH /webhooks/{id} body: only the fields present change; `description: null` clears it."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    events: list[str] | None = Field(default=None, min_length=1)
    secret: str | None = None
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_LENGTH)
    enabled: bool | None = None
    action: HookAction | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return None if value is None else _url(value)

    @field_validator("events")
    @classmethod
    def _check_events(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else matching.validate_patterns(value)

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: str | None) -> str | None:
        return None if value is None else signing.normalize_secret(value)

    @model_validator(mode="after")
    def _check_fields(self) -> WebhookUpdate:
        if not self.model_fields_set:
            raise ValueError("an update must change at least one field")
        nullable = {"description", "action"}
        nulls = sorted(name for name in self.model_fields_set - nullable if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} may not be null")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields to write, exactly as sent."""
        return self.model_dump(mode="json", exclude_unset=True)


class WebhookEndpoint(Model):
    """What a delivery needs to know about an endpoint (built by the store from its record)."""

    id: str = Field(min_length=1)
    url: str
    secret: str
    events: list[str] = Field(min_length=1)
    enabled: bool = True
    failing_since: AwareDatetime | None = None

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: str) -> str:
        signing.secret_key(value)
        return value

    def wants(self, event_type: str) -> bool:
        return self.enabled and matching.matches_any(self.events, event_type)


class WebhookMessage(Model):
    """One event to deliver. Its id and body stay the same across retries."""

    id: str = Field(default_factory=signing.new_message_id, pattern=r"^[A-Za-z0-9_\-]{1,128}$")
    type: str
    timestamp: AwareDatetime  # when the event happened, not when it is delivered
    data: dict[str, JsonValue]

    @field_validator("type")
    @classmethod
    def _check_type(cls, value: str) -> str:
        return matching.validate_event_name(value)

    def body(self) -> bytes:
        """The exact bytes that are signed and sent: compact JSON {"type", "timestamp", "data"}."""
        payload = {"type": self.type, "timestamp": rfc3339(self.timestamp), "data": self.data}
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class DeliveryAttempt(Model):
    """The record of one attempt, as the API lists it."""

    message_id: str
    endpoint_id: str
    event_type: str
    attempt: int = Field(ge=1)
    attempted_at: AwareDatetime
    url: str
    status_code: int | None = None
    duration_ms: float = Field(ge=0)
    error: str | None = None
    response_excerpt: str | None = None
    outcome: Action
    next_attempt_at: AwareDatetime | None = None

    @field_serializer("attempted_at", "next_attempt_at")
    def _serialize_time(self, value: datetime | None) -> str | None:
        return None if value is None else rfc3339(value)
