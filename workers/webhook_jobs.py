"""RQ job: one webhook delivery attempt, its record, and the retry it schedules.

`deliver(tenant, webhook_id, message, attempt)` is enqueued by the stream (new events) and by the
test endpoint (through the job outbox). A failed attempt schedules attempt + 1 at the time the retry
policy chose (schedule with jitter, never before the receiver's Retry-After), so the worker must run
with its scheduler (`rq worker --with-scheduler`). Job ids are derived from message and attempt: a
retry is scheduled once however often this job runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

import httpx

from chalicelib.config import get_settings
from chalicelib.webhooks import service
from chalicelib.webhooks.models import WebhookEndpoint, WebhookMessage
from chalicelib.webhooks.retry import Action
from workers.webhook_delivery import AttemptResult, make_client
from workers.webhook_delivery import deliver as deliver_attempt


@cache
def _client() -> httpx.Client:
    return make_client()


def deliver(
    tenant: str, webhook_id: int, message: dict[str, Any], attempt: int = 1, now: datetime | None = None
) -> str:
    """Run one attempt; returns its outcome ("success", "retry", "give_up", "disable" or "skipped")."""
    try:
        item = service.get_item(tenant, webhook_id)
    except Exception as exc:  # deleted meanwhile: nothing to deliver to
        if getattr(exc, "status", None) == 404:
            return "skipped"
        raise
    if not item.get("enabled"):
        return "skipped"  # disabled meanwhile: its pending retries are dropped
    endpoint = WebhookEndpoint(
        id=str(webhook_id),
        url=item["url"],
        secret=item["secret"],
        events=item["events"],
        enabled=True,
        failing_since=item.get("failing_since"),
    )
    result = deliver_attempt(
        endpoint,
        WebhookMessage.model_validate(message),
        client=_client(),
        attempt=attempt,
        now=now or datetime.now(UTC),
        allow_private=get_settings().allow_private_webhook_targets,
    )
    if service.record_attempt(tenant, webhook_id, result.record, result.decision):
        _schedule_retry(tenant, webhook_id, message, attempt, result)
    return result.action.value


def _schedule_retry(
    tenant: str, webhook_id: int, message: dict[str, Any], attempt: int, result: AttemptResult
) -> None:
    if result.action is not Action.RETRY or result.decision.retry_at is None:
        return
    from rq import Queue
    from rq.job import Job

    from chalicelib import jobs

    request = service.job_request(tenant, webhook_id, message, attempt + 1)
    connection = jobs.redis_connection()
    if Job.exists(request["job_id"], connection=connection):
        return
    Queue(request["queue"], connection=connection).enqueue_at(
        result.decision.retry_at,
        request["function"],
        kwargs=request["kwargs"],
        job_id=request["job_id"],
        job_timeout=request["timeout_seconds"],
        result_ttl=86400,
        failure_ttl=7 * 86400,
    )
