"""TTL emulation for the local stack's moto: DynamoDB deletes an item once the number in its table's
TTL attribute (epoch seconds) has passed, and streams the deletion as a `REMOVE` record whose
`userIdentity` is the DynamoDB service itself, which is how a stream handler tells an expiry from
a deliberate delete (`chalicelib.stream.expired_by_ttl`). moto keeps expired items forever; the
local moto server calls `expire_due` on its backend every few seconds, holding the lock that
serializes its requests.

As in DynamoDB: only tables with TTL enabled; only a Number attribute; an item more than five years
past its time is left alone (the service takes such a value for a mistake). Unlike DynamoDB, which
deletes within days of expiry (usually minutes), an item goes within one sweep."""

from __future__ import annotations

from typing import Any

from chalicelib.stream import TTL_PRINCIPAL

# As GetRecords returns it; Lambda hands it on as {"type", "principalId"} (infra/local/pump.py).
TTL_IDENTITY = {"Type": "Service", "PrincipalId": TTL_PRINCIPAL}
IGNORED_AFTER_SECONDS = 5 * 365 * 86400


def expire_due(backends: Any, now: float) -> int:
    """Delete every expired item of every TTL-enabled table in moto's DynamoDB `backends`
    (`moto.dynamodb.models.dynamodb_backends`), streaming each removal as TTL does. Returns how
    many items went."""
    removed = 0
    for account in list(backends.keys()):
        for region in list(backends[account].keys()):
            for table in list(backends[account][region].tables.values()):
                removed += _expire_table(table, now)
    return removed


def _expire_table(table: Any, now: float) -> int:
    if table.ttl.get("TimeToLiveStatus") != "ENABLED":
        return 0
    attribute = table.ttl.get("AttributeName")
    removed = 0
    for item in list(table.all_items()):
        value = item.attrs.get(attribute)
        if value is None or value.type != "N":
            continue
        expires = float(value.value)
        if expires > now or expires < now - IGNORED_AFTER_SECONDS:
            continue
        table.delete_item(item.hash_key, item.range_key)
        if table.stream_shard is not None and table.stream_shard.items:
            table.stream_shard.items[-1].record["userIdentity"] = dict(TTL_IDENTITY)
        removed += 1
    return removed
