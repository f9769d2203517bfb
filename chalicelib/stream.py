"""What the table's stream drives. The stream sees every committed change exactly as DynamoDB wrote
it, so work that must follow a change (fan-out, bookkeeping of TTL expiry) hangs off it, never off
the request path."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.logs import logger
from chalicelib.store import keys
from chalicelib.store.codec import decode_item
from chalicelib.store.table import Tx, get_store

TTL_PRINCIPAL = "dynamodb.amazonaws.com"


def image(record: dict[str, Any], which: str) -> dict[str, Any] | None:
    raw = (record.get("dynamodb") or {}).get(which)
    return decode_item(raw) if raw else None


def expired_by_ttl(record: dict[str, Any]) -> bool:
    identity = record.get("userIdentity") or {}
    return (
        record.get("eventName") == "REMOVE"
        and identity.get("type") == "Service"
        and identity.get("principalId") == TTL_PRINCIPAL
    )


def account_expired_errors(records: Iterable[dict[str, Any]]) -> int:
    """Errors that TTL removed leave the totals the transaction counters keep; take them out."""
    by_tenant: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        old = image(record, "OldImage")
        if expired_by_ttl(record) and old and old.get("entity") == "error":
            by_tenant.setdefault(old["tenant"] if "tenant" in old else old["PK"][2:], []).append(old)
    for tenant, errors in by_tenant.items():
        # Only projects that still exist get their count corrected: an ADD on a missing key would
        # create a stub item. A project deleted between this read and the commit fails the
        # transaction's condition, and the batch's retry finds it gone.
        project_ids = sorted({error["project_id"] for error in errors})
        found = get_store().batch_get(
            [(keys.tenant_pk(tenant), keys.entity_sk("PROJECT", i)) for i in project_ids]
        )
        existing = {item["id"] for item in found}

        def build(tx: Tx, errors: list[dict[str, Any]] = errors, existing: set[int] = existing) -> None:
            tx.count("ERROR", delta=-len(errors), newest_first=True)
            per_severity: dict[str, int] = {}
            per_project: dict[int, int] = {}
            for error in errors:
                per_severity[error["severity"]] = per_severity.get(error["severity"], 0) + 1
                per_project[error["project_id"]] = per_project.get(error["project_id"], 0) + 1
            for severity, n in per_severity.items():
                tx.count("ERROR", f"severity_{severity}", -n, newest_first=True)
            for project_id, n in per_project.items():
                if project_id in existing:
                    tx.update(tx.pk, keys.entity_sk("PROJECT", project_id), add={"error_count": -n})

        get_store().commit(tenant, build)
        logger.info("expired errors accounted", extra={"tenant": tenant, "count": len(errors)})
    return sum(len(e) for e in by_tenant.values())


def new_items(records: Iterable[dict[str, Any]], entity: str) -> list[dict[str, Any]]:
    """Items of one kind that the batch inserted."""
    found = []
    for record in records:
        if record.get("eventName") == "INSERT":
            item = image(record, "NewImage")
            if item and item.get("entity") == entity:
                found.append(item)
    return found


def enqueue_job_requests(records: Iterable[dict[str, Any]]) -> int:
    from chalicelib import jobs

    return sum(jobs.enqueue(request) for request in new_items(records, "job"))


def fan_out_events(records: Iterable[dict[str, Any]]) -> None:
    """New events go to subscribed WebSocket connections and to matching webhooks. Both are
    idempotent (cursor claims per connection, deterministic job ids), so a retried batch repeats nothing."""
    events = new_items(records, "event")
    if not events:
        return
    from chalicelib.realtime import fanout
    from chalicelib.webhooks import service

    try:
        fanout.fan_out(events)
    finally:
        service.enqueue_deliveries(events)


def drop_indexes_of_deleted_projects(records: Iterable[dict[str, Any]]) -> int:
    """A deleted project's code index leaves S3 with it (the project item names its key)."""
    from chalicelib.search import storage

    dropped = 0
    for record in records:
        old = image(record, "OldImage") if record.get("eventName") == "REMOVE" else None
        if old and old.get("entity") == "project" and old.get("search_index"):
            storage.delete(old["search_index"]["key"])
            dropped += 1
    return dropped


def handle_records(records: list[dict[str, Any]]) -> None:
    """The stream handler's body. Every step is idempotent; raise to have the batch retried (a
    Redis outage, say), so nothing a committed change asked for is lost."""
    enqueue_job_requests(records)
    fan_out_events(records)
    account_expired_errors(records)
    drop_indexes_of_deleted_projects(records)
