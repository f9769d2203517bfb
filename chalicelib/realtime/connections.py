"""Connections and subscriptions in the table.

| item          | PK                | SK              | GSI3PK                    | GSI3SK        |
| connection    | WS#<connection>   | CONN            |                           |               |
| subscription  | WS#<connection>   | SUB#<channel>   | T#<tenant>#WS#<channel>   | <connection>  |

A subscription carries `cursor`: every event of its channel with a seq up to the cursor has been
delivered to the connection (or predates the subscription). `state` is `replaying` while the
subscribe handler sends missed events from the log, then `live`; the fan-out only ever delivers to
`live` subscriptions and advances the cursor with a conditional update before it sends, so an event
reaches a connection at most once, and the switch to `live` is conditional on the tenant's event
sequence not having moved, so none is skipped (docs/realtime.md).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from chalicelib import clock
from chalicelib.store import keys
from chalicelib.store.codec import decode_item, encode, encode_item
from chalicelib.store.table import get_store

CONN_SK = "CONN"
SUB_PREFIX = "SUB#"
INDEX = "GSI3"
REPLAYING = "replaying"
LIVE = "live"
# API Gateway closes every connection after 2 hours; TTL sweeps records a lost $disconnect left.
RECORD_TTL = timedelta(hours=3)


def connection_pk(connection_id: str) -> str:
    return f"WS#{connection_id}"


def channel_index_pk(tenant: str, channel: str) -> str:
    return keys.tenant_index_pk(tenant, "WS", channel)


@dataclass(frozen=True)
class Connection:
    connection_id: str
    tenant: str
    subject: str
    endpoint: str  # the @connections API that reaches this connection
    channels: tuple[str, ...]


@dataclass(frozen=True)
class Subscriber:
    connection_id: str
    endpoint: str
    state: str
    cursor: int


def _expires() -> int:
    return int((clock.now() + RECORD_TTL).timestamp())


def save_connection(connection_id: str, tenant: str, subject: str, endpoint: str) -> None:
    get_store().put(
        {
            "PK": connection_pk(connection_id),
            "SK": CONN_SK,
            "entity": "ws_connection",
            "connection_id": connection_id,
            "tenant": tenant,
            "subject": subject,
            "endpoint": endpoint,
            "channels": [],
            "connected_at": clock.iso(clock.now()),
            "expires_at": _expires(),
        }
    )


def get_connection(connection_id: str) -> Connection | None:
    item = get_store().get(connection_pk(connection_id), CONN_SK)
    if item is None:
        return None
    return Connection(
        connection_id=connection_id,
        tenant=item["tenant"],
        subject=item["subject"],
        endpoint=item["endpoint"],
        channels=tuple(item.get("channels") or ()),
    )


def subscriptions(connection_id: str) -> dict[str, dict[str, Any]]:
    """The connection's subscription items by channel (consistent read)."""
    page = get_store().query_page(pk=connection_pk(connection_id), sk_prefix=SUB_PREFIX, limit=100)
    return {item["channel"]: item for item in page.items}


def add_subscriptions(conn: Connection, channels: list[str], cursor: int) -> None:
    """Subscribe `channels` in the `replaying` state at `cursor` and record the channel list."""
    store = get_store()
    items: list[dict[str, Any]] = []
    for channel in channels:
        item = {
            "PK": connection_pk(conn.connection_id),
            "SK": SUB_PREFIX + channel,
            "GSI3PK": channel_index_pk(conn.tenant, channel),
            "GSI3SK": conn.connection_id,
            "entity": "ws_subscription",
            "tenant": conn.tenant,
            "channel": channel,
            "connection_id": conn.connection_id,
            "endpoint": conn.endpoint,
            "state": REPLAYING,
            "cursor": cursor,
            "expires_at": _expires(),
        }
        items.append({"Put": {"TableName": store.table, "Item": encode_item(item)}})
    all_channels = sorted(set(conn.channels) | set(channels))
    items.append(_set_channels(conn.connection_id, all_channels))
    store.client.transact_write_items(TransactItems=items)


def remove_subscriptions(conn: Connection, channels: list[str]) -> list[str]:
    """Drop subscriptions; returns the channels still subscribed."""
    store = get_store()
    remaining = sorted(set(conn.channels) - set(channels))
    items: list[dict[str, Any]] = [
        {
            "Delete": {
                "TableName": store.table,
                "Key": encode_item({"PK": connection_pk(conn.connection_id), "SK": SUB_PREFIX + c}),
            }
        }
        for c in channels
    ]
    items.append(_set_channels(conn.connection_id, remaining))
    store.client.transact_write_items(TransactItems=items)
    return remaining


def _set_channels(connection_id: str, channels: list[str]) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": get_store().table,
            "Key": encode_item({"PK": connection_pk(connection_id), "SK": CONN_SK}),
            "UpdateExpression": "SET #c = :c",
            "ConditionExpression": "attribute_exists(PK)",
            "ExpressionAttributeNames": {"#c": "channels"},
            "ExpressionAttributeValues": {":c": encode(channels)},
        }
    }


def forget(connection_id: str) -> None:
    """Delete a connection and its subscriptions (disconnect, or the connection is gone)."""
    store = get_store()
    for channel in subscriptions(connection_id):
        store.delete(connection_pk(connection_id), SUB_PREFIX + channel)
    store.delete(connection_pk(connection_id), CONN_SK)


def index_visible(tenant: str, channel: str, connection_id: str) -> bool:
    """Whether the subscription already shows in the (eventually consistent) channel index."""
    store = get_store()
    response = store.client.query(
        TableName=store.table,
        IndexName=INDEX,
        KeyConditionExpression="GSI3PK = :pk AND GSI3SK = :sk",
        ExpressionAttributeValues={
            ":pk": encode(channel_index_pk(tenant, channel)),
            ":sk": encode(connection_id),
        },
        Select="COUNT",
    )
    return int(response.get("Count", 0)) > 0


def subscribers(tenant: str, channel: str) -> list[Subscriber]:
    """Every connection subscribed to the tenant's channel (from the index: may lag a little; the
    fan-out's conditional claim on the subscription item is what decides)."""
    store = get_store()
    request: dict[str, Any] = {
        "TableName": store.table,
        "IndexName": INDEX,
        "KeyConditionExpression": "GSI3PK = :pk",
        "ExpressionAttributeValues": {":pk": encode(channel_index_pk(tenant, channel))},
        "ProjectionExpression": "connection_id, endpoint, #state, #cursor",
        "ExpressionAttributeNames": {"#state": "state", "#cursor": "cursor"},
    }
    found: list[Subscriber] = []
    while True:
        response = store.client.query(**request)
        for raw in response.get("Items", []):
            item = decode_item(raw)
            found.append(
                Subscriber(item["connection_id"], item["endpoint"], item["state"], int(item["cursor"]))
            )
        last = response.get("LastEvaluatedKey")
        if not last:
            return found
        request["ExclusiveStartKey"] = last


def claim(connection_id: str, channel: str, upto: int) -> int | None:
    """Advance a live subscription's cursor to `upto`; returns the cursor it had (send the events
    after it), or None when the subscription is not live, gone, or already at `upto`."""
    store = get_store()
    try:
        response = store.client.update_item(
            TableName=store.table,
            Key=encode_item({"PK": connection_pk(connection_id), "SK": SUB_PREFIX + channel}),
            UpdateExpression="SET #cursor = :upto",
            ConditionExpression="attribute_exists(PK) AND #state = :live AND #cursor < :upto",
            ExpressionAttributeNames={"#cursor": "cursor", "#state": "state"},
            ExpressionAttributeValues={":upto": encode(upto), ":live": encode(LIVE)},
            ReturnValues="UPDATED_OLD",
        )
    except store.client.exceptions.ConditionalCheckFailedException:
        return None
    return int(decode_item(response["Attributes"])["cursor"])


def release(connection_id: str, channel: str, claimed: int, delivered: int) -> None:
    """Hand back the part of a claim that was not delivered (a send failed): cursor back to `delivered`."""
    store = get_store()
    # A failed condition means unsubscribed or disconnected meanwhile: nothing left to hand back.
    with contextlib.suppress(store.client.exceptions.ConditionalCheckFailedException):
        store.client.update_item(
            TableName=store.table,
            Key=encode_item({"PK": connection_pk(connection_id), "SK": SUB_PREFIX + channel}),
            UpdateExpression="SET #cursor = :delivered",
            ConditionExpression="#cursor = :claimed",
            ExpressionAttributeNames={"#cursor": "cursor"},
            ExpressionAttributeValues={":delivered": encode(delivered), ":claimed": encode(claimed)},
        )


def go_live(conn: Connection, channels: list[str], seen_seq: int) -> bool:
    """Switch replaying subscriptions to live at `seen_seq`, only if the tenant's event sequence is
    still `seen_seq` (else more events committed meanwhile: replay them first). One transaction."""
    store = get_store()
    meta_condition = "attribute_not_exists(#seq) OR #seq = :seq" if seen_seq == 0 else "#seq = :seq"
    items: list[dict[str, Any]] = [
        {
            "ConditionCheck": {
                "TableName": store.table,
                "Key": encode_item({"PK": keys.tenant_pk(conn.tenant), "SK": keys.META_SK}),
                "ConditionExpression": meta_condition,
                "ExpressionAttributeNames": {"#seq": "seq"},
                "ExpressionAttributeValues": {":seq": encode(seen_seq)},
            }
        }
    ]
    for channel in channels:
        items.append(
            {
                "Update": {
                    "TableName": store.table,
                    "Key": encode_item({"PK": connection_pk(conn.connection_id), "SK": SUB_PREFIX + channel}),
                    "UpdateExpression": "SET #state = :live, #cursor = :seq",
                    "ConditionExpression": "#state = :replaying",
                    "ExpressionAttributeNames": {"#state": "state", "#cursor": "cursor"},
                    "ExpressionAttributeValues": {
                        ":live": encode(LIVE),
                        ":seq": encode(seen_seq),
                        ":replaying": encode(REPLAYING),
                    },
                }
            }
        )
    try:
        store.client.transact_write_items(TransactItems=items)
    except store.client.exceptions.TransactionCanceledException as exc:
        reasons = exc.response.get("CancellationReasons", [])
        if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
            return False
        if any(r.get("Code") == "ConditionalCheckFailed" for r in reasons[1:]):
            raise SubscriptionChanged() from None
        raise
    return True


class SubscriptionChanged(Exception):
    """A subscription being replayed was removed meanwhile (unsubscribe or disconnect)."""


def tenant_seq(tenant: str) -> int:
    meta = get_store().get(keys.tenant_pk(tenant), keys.META_SK) or {}
    return int(meta.get("seq", 0))


def events_between(tenant: str, after: int, upto: int, channels: list[str]) -> list[dict[str, Any]]:
    """EVENT items with after < seq <= upto on the given channels, in order (consistent reads)."""
    if upto <= after:
        return []
    store = get_store()
    names = {"#ch": "channel"}
    values: dict[str, Any] = {
        ":pk": encode(keys.tenant_pk(tenant)),
        ":from": encode(keys.event_sk(after + 1)),
        ":to": encode(keys.event_sk(upto)),
    }
    options = []
    for i, channel in enumerate(channels):
        values[f":c{i}"] = encode(channel)
        options.append(f":c{i}")
    request: dict[str, Any] = {
        "TableName": store.table,
        "KeyConditionExpression": "PK = :pk AND SK BETWEEN :from AND :to",
        "FilterExpression": f"#ch IN ({', '.join(options)})",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ConsistentRead": True,
    }
    found: list[dict[str, Any]] = []
    while True:
        response = store.client.query(**request)
        found.extend(decode_item(raw) for raw in response.get("Items", []))
        last = response.get("LastEvaluatedKey")
        if not last:
            return found
        request["ExclusiveStartKey"] = last


def oldest_event_seq(tenant: str, after: int) -> int | None:
    """The first seq still in the log after `after` (TTL removes old events)."""
    store = get_store()
    response = store.client.query(
        TableName=store.table,
        KeyConditionExpression="PK = :pk AND SK BETWEEN :from AND :to",
        ExpressionAttributeValues={
            ":pk": encode(keys.tenant_pk(tenant)),
            ":from": encode(keys.event_sk(after + 1)),
            ":to": encode("EVENT#\uffff"),
        },
        ConsistentRead=True,
        Limit=1,
        ProjectionExpression="seq",
    )
    items = response.get("Items", [])
    return int(decode_item(items[0])["seq"]) if items else None
