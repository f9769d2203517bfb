"""Outbound webhooks as stored objects: CRUD, the deliveries the stream enqueues for new events,
the record of every attempt and the endpoint state the attempts leave (failing since, disabled).

| item      | PK          | SK                                                     |
| webhook   | T#<tenant>  | WEBHOOK#<id:012d>                                      | GSI2 WHID#<id>
| attempt   | T#<tenant>  | WHATTEMPT#<id:012d>#<attempted_at>#<message>#<attempt> | newest first, TTL
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from chalicelib import clock, jobs
from chalicelib.config import get_settings
from chalicelib.errors import Conflict, NotFound, ValidationFailed
from chalicelib.logs import logger
from chalicelib.models.webhooks import DeliveryOut, WebhookOut, WebhookWithSecret
from chalicelib.store import keys
from chalicelib.store.table import Page, Tx, get_store
from chalicelib.webhooks import targets
from chalicelib.webhooks.errors import InvalidTargetError
from chalicelib.webhooks.models import DeliveryAttempt, WebhookCreate, WebhookEndpoint, WebhookUpdate, rfc3339
from chalicelib.webhooks.retry import Action, Decision

KIND = "WEBHOOK"
ATTEMPT = "WHATTEMPT"
DELIVER_FUNCTION = "workers.webhook_jobs.deliver"
ATTEMPT_TTL = timedelta(days=30)
TEST_EVENT = "webhook.test"


def _sk(webhook_id: int) -> str:
    return keys.entity_sk(KIND, webhook_id)


def _attempt_prefix(webhook_id: int) -> str:
    return f"{ATTEMPT}#{webhook_id:012d}#"


def _id_index_pk(webhook_id: int) -> str:
    return f"WHID#{webhook_id}"


def items_with_id(webhook_id: int) -> list[dict[str, Any]]:
    """The webhooks with this id in every tenant (for triggers, which carry a secret, not a token)."""
    return get_store().query_page(pk=_id_index_pk(webhook_id), index="GSI2", sk_prefix="T#", limit=500).items


def public(item: dict[str, Any]) -> WebhookOut:
    return WebhookOut.model_validate(item)


def check_target(url: str) -> None:
    """Refuse targets the deployment may not deliver to (private, loopback, ...) before storing them."""
    try:
        targets.resolve_target(
            url, allow_private=get_settings().allow_private_webhook_targets, resolver=targets.system_resolver
        )
    except InvalidTargetError as exc:
        raise ValidationFailed.field("url", str(exc)) from None


def create_webhook(tenant: str, request: WebhookCreate) -> WebhookWithSecret:
    check_target(request.url)

    def build(tx: Tx) -> dict[str, Any]:
        webhook_id = tx.new_id("webhook")
        now = clock.iso(tx.now)
        item = {
            "PK": tx.pk,
            "SK": _sk(webhook_id),
            "entity": "webhook",
            "tenant": tenant,
            # Triggers arrive without a token: the id (+ secret) finds the webhook across tenants.
            "GSI2PK": _id_index_pk(webhook_id),
            "GSI2SK": tx.pk,
            "id": webhook_id,
            **request.model_dump(mode="json"),
            "failing_since": None,
            "disabled_reason": None,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        tx.put(item, create_only=True)
        tx.count(KIND)
        return item

    return WebhookWithSecret.model_validate(get_store().commit(tenant, build))


def get_item(tenant: str, webhook_id: int) -> dict[str, Any]:
    item = get_store().get(keys.tenant_pk(tenant), _sk(webhook_id))
    if not item:
        raise NotFound.entity("Webhook", webhook_id)
    return item


def get_endpoint(tenant: str, webhook_id: int) -> WebhookEndpoint:
    """What a delivery needs to know about a webhook (the delivery jobs; the scheduler's
    `{"type": "webhook", "webhook_id": ...}` action). NotFound for another tenant's id."""
    item = get_item(tenant, webhook_id)
    return WebhookEndpoint(
        id=str(webhook_id),
        url=item["url"],
        secret=item["secret"],
        events=item["events"],
        enabled=bool(item["enabled"]),
        failing_since=item.get("failing_since"),
    )


def list_webhooks(
    tenant: str, *, limit: int, offset: int = 0, cursor: str | None = None
) -> tuple[list[WebhookOut], Page, int]:
    store = get_store()
    pk = keys.tenant_pk(tenant)
    page = store.query_page(
        pk=pk, sk_prefix=f"{KIND}#", header_sk=keys.header_sk(KIND), limit=limit, offset=offset, cursor=cursor
    )
    return [public(i) for i in page.items], page, page.total()


def _change(tenant: str, webhook_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    current = get_item(tenant, webhook_id)

    def build(tx: Tx) -> dict[str, Any]:
        updated = {**current, **changes, "updated_at": clock.iso(tx.now), "version": current["version"] + 1}
        tx.update(
            tx.pk,
            current["SK"],
            set={k: updated[k] for k in (*changes, "updated_at", "version")},
            if_version=current["version"],
            on_fail=Conflict(f"Webhook {webhook_id} changed meanwhile; retry"),
        )
        return updated

    return get_store().commit(tenant, build)


def update_webhook(tenant: str, webhook_id: int, request: WebhookUpdate) -> WebhookOut:
    changes = request.changes()
    if "url" in changes:
        check_target(changes["url"])
    if changes.get("enabled") is True:
        changes.update(failing_since=None, disabled_reason=None)
    updated = _change(tenant, webhook_id, changes)
    return WebhookWithSecret.model_validate(updated) if "secret" in changes else public(updated)


def toggle_webhook(tenant: str, webhook_id: int) -> WebhookOut:
    enabled = not get_item(tenant, webhook_id)["enabled"]
    changes: dict[str, Any] = {"enabled": enabled}
    if enabled:
        changes.update(failing_since=None, disabled_reason=None)
    return public(_change(tenant, webhook_id, changes))


def delete_webhook(tenant: str, webhook_id: int) -> None:
    get_item(tenant, webhook_id)

    def build(tx: Tx) -> None:
        tx.delete(tx.pk, _sk(webhook_id), on_fail=NotFound.entity("Webhook", webhook_id))
        tx.count(KIND, delta=-1)

    get_store().commit(tenant, build)


def list_deliveries(
    tenant: str, webhook_id: int, *, limit: int, offset: int = 0, cursor: str | None = None
) -> tuple[list[DeliveryOut], Page, int]:
    get_item(tenant, webhook_id)
    store = get_store()
    pk = keys.tenant_pk(tenant)
    prefix = _attempt_prefix(webhook_id)
    page = store.query_page(
        pk=pk, sk_prefix=prefix, limit=limit, offset=offset, cursor=cursor, newest_first=True
    )
    total = store.count(pk=pk, sk_prefix=prefix)
    return [DeliveryOut.model_validate(i) for i in page.items], page, total


# -- deliveries ----------------------------------------------------------------------------------


def job_request(tenant: str, webhook_id: int, message: dict[str, Any], attempt: int) -> dict[str, Any]:
    """The RQ job for one attempt; its id is derived from message and attempt, so enqueueing twice
    (a retried stream batch) adds nothing."""
    return {
        "job_id": f"{tenant}-wh{webhook_id}-{message['id']}-a{attempt}",
        "function": DELIVER_FUNCTION,
        "kwargs": {"tenant": tenant, "webhook_id": webhook_id, "message": message, "attempt": attempt},
        "queue": jobs.SHARED_QUEUE,
        "timeout_seconds": 120,
    }


def message_for(event: dict[str, Any]) -> dict[str, Any]:
    """The Standard Webhooks message of an EVENT item: id stable per event, type the dotted name."""
    return {
        "id": f"msg_{event['tenant']}_{int(event['seq'])}",
        "type": event["name"],
        "timestamp": event["timestamp"],
        "data": event["data"],
    }


def enqueue_deliveries(events: list[dict[str, Any]]) -> int:
    """Enqueue one delivery per (event, enabled webhook that wants it); returns how many were new."""
    from chalicelib.webhooks.matching import matches_any

    hooks_by_tenant: dict[str, list[dict[str, Any]]] = {}
    enqueued = 0
    for event in sorted(events, key=lambda e: (e["tenant"], int(e["seq"]))):
        tenant = event["tenant"]
        if tenant not in hooks_by_tenant:
            hooks_by_tenant[tenant] = _enabled_hooks(tenant)
        for hook in hooks_by_tenant[tenant]:
            if matches_any(hook["events"], event["name"]):
                enqueued += jobs.enqueue(job_request(tenant, int(hook["id"]), message_for(event), 1))
    return enqueued


def _enabled_hooks(tenant: str) -> list[dict[str, Any]]:
    store = get_store()
    hooks: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = store.query_page(pk=keys.tenant_pk(tenant), sk_prefix=f"{KIND}#0", limit=500, cursor=cursor)
        hooks.extend(h for h in page.items if h.get("enabled"))
        if not page.next_cursor:
            return hooks
        cursor = page.next_cursor


def request_test(tenant: str, webhook_id: int) -> dict[str, Any]:
    """Queue a `webhook.test` delivery to this endpoint only (through the job outbox)."""
    item = get_item(tenant, webhook_id)
    if not item["enabled"]:
        raise Conflict(f"Webhook {webhook_id} is disabled; enable it first")
    message_id = "msg_test_" + uuid.uuid4().hex

    def build(tx: Tx) -> None:
        message = {
            "id": message_id,
            "type": TEST_EVENT,
            "timestamp": clock.iso(tx.now),
            "data": {"webhook_id": webhook_id, "message": "This is a test delivery from BorgOS"},
        }
        request = job_request(tenant, webhook_id, message, 1)
        jobs.request_job(
            tx,
            function=request["function"],
            kwargs=request["kwargs"],
            job_id=request["job_id"],
            timeout_seconds=request["timeout_seconds"],
        )

    get_store().commit(tenant, build)
    return {"message": f"Test delivery queued for webhook {webhook_id}", "message_id": message_id}


def record_attempt(tenant: str, webhook_id: int, record: DeliveryAttempt, decision: Decision) -> bool:
    """Store an attempt and the endpoint state it leaves; False when the webhook is gone."""
    failing_since = rfc3339(decision.failing_since) if decision.failing_since else None
    changes: dict[str, Any] = {"failing_since": failing_since}
    if decision.action is Action.DISABLE:
        changes.update(enabled=False, disabled_reason=decision.reason)
    attempt_item = {
        "PK": keys.tenant_pk(tenant),
        "SK": _attempt_prefix(webhook_id)
        + f"{_sortable(record.attempted_at)}#{record.message_id}#{record.attempt:02d}",
        "entity": "webhook_attempt",
        "webhook_id": webhook_id,
        **record.model_dump(mode="json"),
        "expires_at": int((record.attempted_at + ATTEMPT_TTL).timestamp()),
    }

    def build(tx: Tx) -> None:
        tx.put(attempt_item)
        tx.update(tx.pk, _sk(webhook_id), set=changes, on_fail=NotFound.entity("Webhook", webhook_id))

    try:
        get_store().commit(tenant, build)
    except NotFound:
        logger.info("webhook deleted before its attempt was recorded", extra={"webhook_id": webhook_id})
        return False
    return True


def _sortable(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
