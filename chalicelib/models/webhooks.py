"""Webhook shapes at the API edge (request models live in chalicelib/webhooks/models.py)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chalicelib.models.common import ListQuery, Out, Strict


class WebhookOut(Out):
    id: int
    url: str
    events: list[str]
    description: str | None = None
    enabled: bool
    action: dict[str, Any] | None = None
    failing_since: str | None = None
    disabled_reason: str | None = None
    created_at: str
    updated_at: str


class WebhookWithSecret(WebhookOut):
    """Returned when the secret is set (create, or a PATCH that changes it): the only time it is shown."""

    secret: str


class DeliveryOut(Out):
    message_id: str
    event_type: str
    attempt: int
    attempted_at: str
    url: str
    status_code: int | None = None
    duration_ms: float
    error: str | None = None
    response_excerpt: str | None = None
    outcome: str
    next_attempt_at: str | None = None


class DeliveryListQuery(ListQuery):
    pass


class QueuedDelivery(Out):
    message: str
    message_id: str


class HookConfig(Strict):
    """PUT /projects/{id}/hook: the branch whose pushes redeploy; the secret is generated if omitted."""

    branch: str = Field(min_length=1, max_length=255, pattern=r"^[^\s~^:?*\[\\]+$")
    secret: str | None = Field(default=None, min_length=16, max_length=256)


class HookInfo(Out):
    project_id: int
    branch: str
    url: str
    created_at: str


class HookCreated(HookInfo):
    secret: str
