"""The one place that executes a scheduled task's action. Other parts' domain entry points are
imported lazily (contracts in CORE_API.md), so a deployment without one of them fails that action
with a clear error instead of failing to load.

| action      | calls                                                                          |
| ----------- | ------------------------------------------------------------------------------ |
| scan        | chalicelib.scans.request_scan(tenant, project_id)                              |
| deploy      | chalicelib.deployments.request_action(tenant, deployment_id, "redeploy")       |
| restart     | chalicelib.deployments.request_action(tenant, deployment_id, "restart")        |
| agent_task  | chalicelib.agent_tasks.create_task(tenant, <its request model>(...), actor)    |
| webhook     | a signed POST (Standard Webhooks) through workers.webhook_delivery.deliver to  |
|             | `url`, or to the configured webhook chalicelib.webhooks.service.get_item reads  |
|             | (the attempt is recorded in its deliveries: service.record_attempt);           |
|             | a configured webhook with an `action` (a trigger) runs it instead:             |
|             | chalicelib.webhooks.incoming.run_action(tenant, id, delivery_id=<run>)         |

`execute` returns the action's output (JSON-safe) or raises ActionFailed with the reason.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import typing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel

from chalicelib.config import get_settings
from chalicelib.errors import ApiError
from chalicelib.logs import logger
from chalicelib.webhooks.models import WebhookEndpoint, WebhookMessage
from chalicelib.webhooks.retry import Action
from chalicelib.webhooks.targets import Resolver, system_resolver

WEBHOOK_EVENT = "scheduler.task_run"


class ActionFailed(Exception):
    """The action did not succeed; the message is what the run history shows as its error."""


@dataclass
class Context:
    """What an action may need besides the task: the run, the attempt time and the HTTP means."""

    tenant: str
    task: dict[str, Any]
    run: dict[str, Any]
    now: datetime
    http: httpx.Client | None = None
    resolver: Resolver = field(default=system_resolver)


def execute(ctx: Context) -> Any:
    action = ctx.task["action"]
    kind = action["type"]
    try:
        if kind == "scan":
            return _json(_entry("chalicelib.scans", "request_scan")(ctx.tenant, action["project_id"]))
        if kind in ("deploy", "restart"):
            request_action = _entry("chalicelib.deployments", "request_action")
            verb = "redeploy" if kind == "deploy" else "restart"
            return _json(request_action(ctx.tenant, action["deployment_id"], verb))
        if kind == "agent_task":
            return _agent_task(ctx, action)
        if kind == "webhook":
            return _webhook(ctx, action)
    except ApiError as exc:  # the domain refused: not found, conflict, ...
        raise ActionFailed(f"{exc.status} {exc.code}: {exc.message}") from exc
    raise ActionFailed(f"unknown action type {kind!r}")


def _entry(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise ActionFailed(f"{module}.{name} is not available in this deployment") from None


def _json(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    return result


def _agent_task(ctx: Context, action: dict[str, Any]) -> Any:
    create_task = _entry("chalicelib.agent_tasks", "create_task")
    # The request model is whatever create_task's second parameter is annotated with.
    try:
        parameter = list(inspect.signature(create_task).parameters)[1]
        model = typing.get_type_hints(create_task)[parameter]
        body = model.model_validate({key: value for key, value in action.items() if key != "type"})
    except (IndexError, KeyError, NameError, AttributeError, TypeError, ValueError) as exc:
        raise ActionFailed(f"cannot build the agent task request: {exc}") from exc
    return _json(create_task(ctx.tenant, body, f"scheduler:task-{ctx.task['id']}"))


def _webhook(ctx: Context, action: dict[str, Any]) -> dict[str, Any]:
    from workers.webhook_delivery import deliver, make_client

    if action.get("webhook_id") is not None:
        webhook_id = int(action["webhook_id"])
        item = _entry("chalicelib.webhooks.service", "get_item")(ctx.tenant, webhook_id)
        if item.get("action"):
            # A trigger webhook: calling it runs its configured action, once per run.
            run_action = _entry("chalicelib.webhooks.incoming", "run_action")
            return dict(_json(run_action(ctx.tenant, webhook_id, delivery_id=f"scheduler-{ctx.run['id']}")))
        endpoint = WebhookEndpoint.model_validate(
            {"id": str(webhook_id), **{k: item.get(k) for k in ("url", "secret", "events", "enabled")}}
            | {"failing_since": item.get("failing_since")}
        )
    else:
        endpoint = WebhookEndpoint(
            id=f"task-{ctx.task['id']}", url=action["url"], secret=action["secret"], events=[WEBHOOK_EVENT]
        )
    run = ctx.run
    message = WebhookMessage(
        # Stable per run: a retry is the same message, so the receiver can deduplicate it.
        id="msg_" + hashlib.sha256(f"{ctx.tenant}/{run['id']}".encode()).hexdigest()[:32],
        type=WEBHOOK_EVENT,
        timestamp=ctx.now,
        data={
            "task_id": int(ctx.task["id"]),
            "task_name": ctx.task["name"],
            "run_id": run["id"],
            "trigger": run["trigger"],
            "scheduled_at": run["scheduled_at"],
            "attempt": int(run["attempt"]),
            "payload": action.get("payload") or {},
        },
    )
    client = ctx.http or make_client()
    try:
        result = deliver(
            endpoint,
            message,
            client=client,
            attempt=int(run["attempt"]),
            now=ctx.now,
            allow_private=get_settings().allow_private_webhook_targets,
            resolver=ctx.resolver,
        )
    finally:
        if ctx.http is None:
            client.close()
    record = result.record
    if action.get("webhook_id") is not None:
        _record_attempt(ctx.tenant, int(action["webhook_id"]), result)
    if result.action is not Action.SUCCESS:
        raise ActionFailed(f"webhook {endpoint.url}: {record.error or result.decision.reason}")
    return {
        "url": endpoint.url,
        "status_code": record.status_code,
        "duration_ms": record.duration_ms,
        "response_excerpt": record.response_excerpt,
        "message_id": message.id,
    }


def _record_attempt(tenant: str, webhook_id: int, result: Any) -> None:
    """A configured webhook's attempt goes into its delivery history (and endpoint state: failing
    since, disabled on 410), like an event delivery. Bookkeeping: a failure here only logs."""
    try:
        service = importlib.import_module("chalicelib.webhooks.service")
        record_attempt = getattr(service, "record_attempt", None)
        if record_attempt is not None:
            record_attempt(tenant, webhook_id, result.record, result.decision)
    except Exception:
        logger.exception("recording a scheduled webhook attempt failed", extra={"webhook_id": webhook_id})
