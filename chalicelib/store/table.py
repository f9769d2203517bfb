"""The one store: every read and write of the single DynamoDB table goes through here.

Writes that others must hear about go through `commit`: the change, its events (with a per-tenant
increasing sequence) and the counters behind list totals commit in one transaction. Ids and event
sequence numbers come from the tenant's meta item, read optimistically: the transaction carries a
condition on the meta revision it saw, and when another writer got there first DynamoDB hands back
the current meta item (ReturnValuesOnConditionCheckFailure) and the change is rebuilt on top of it.
A warm writer therefore spends exactly one TransactWriteItems per change.
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from chalicelib import aws, clock
from chalicelib.config import get_settings
from chalicelib.errors import ApiError, BadRequest, Conflict
from chalicelib.store import keys
from chalicelib.store.codec import decode_item, encode, encode_item

T = TypeVar("T")

_MAX_ATTEMPTS = 10


class StoreConflict(Conflict):
    """Too many writers raced for the same tenant; the caller may retry."""


@dataclass
class Filter:
    """Exact-match filters combined with AND; `contains` tests list membership."""

    equals: dict[str, Any] = field(default_factory=dict)
    contains: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.equals or self.contains)

    def expression(self, names: dict[str, str], values: dict[str, Any]) -> str:
        parts = []
        for i, (attr, value) in enumerate(self.equals.items()):
            names[f"#f{i}"] = attr
            values[f":f{i}"] = encode(value)
            parts.append(f"#f{i} = :f{i}")
        for i, (attr, value) in enumerate(self.contains.items()):
            names[f"#c{i}"] = attr
            values[f":c{i}"] = encode(value)
            parts.append(f"contains(#c{i}, :c{i})")
        return " AND ".join(parts)


@dataclass
class Page:
    items: list[dict[str, Any]]
    header: dict[str, Any] | None
    next_cursor: str | None

    def total(self, attr: str = "count") -> int:
        """A counter of the collection's header item (a page read with `header_sk`)."""
        return int((self.header or {}).get(attr, 0))


def encode_cursor(position: dict[str, str]) -> str:
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, expected: set[str]) -> dict[str, str]:
    """Cursors carry sort keys only: the partition always comes from the caller's tenant."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("cursor is not valid", code="BAD_CURSOR") from exc
    if (
        not isinstance(position, dict)
        or set(position) != expected
        or not all(isinstance(v, str) and v for v in position.values())
    ):
        raise BadRequest("cursor is not valid", code="BAD_CURSOR")
    return position


@dataclass
class _Op:
    item: dict[str, Any]
    on_fail: ApiError | None


class Tx:
    """A change being built for one tenant. Built again from scratch when a commit must retry, so
    the build function must only read what it was given."""

    def __init__(self, tenant: str, meta: dict[str, Any], table: str) -> None:
        self.tenant = tenant
        self.pk = keys.tenant_pk(tenant)
        self._meta = meta
        self._table = table
        self._ops: list[_Op] = []
        self._ids: dict[str, int] = {}
        self._counts: dict[str, dict[str, int]] = {}
        self._events: list[dict[str, Any]] = []
        self.now = clock.now()

    # ids and events ---------------------------------------------------------------------------
    def new_id(self, kind: str) -> int:
        current = self._ids.get(kind, int(self._meta.get(f"next_{kind}", 0)))
        self._ids[kind] = current + 1
        return current + 1

    def emit(self, *, type: str, channel: str, name: str, data: dict[str, Any]) -> None:
        self._events.append({"type": type, "channel": channel, "name": name, "data": data})

    def count(self, kind: str, attr: str = "count", delta: int = 1, *, newest_first: bool = False) -> None:
        sk = keys.header_sk(kind, newest_first)
        per_header = self._counts.setdefault(sk, {})
        per_header[attr] = per_header.get(attr, 0) + delta

    # item operations --------------------------------------------------------------------------
    def put(
        self, item: dict[str, Any], *, create_only: bool = False, on_fail: ApiError | None = None
    ) -> None:
        op: dict[str, Any] = {"TableName": self._table, "Item": encode_item(item)}
        if create_only:
            op["ConditionExpression"] = "attribute_not_exists(PK)"
        self._ops.append(_Op({"Put": op}, on_fail))

    def update(
        self,
        pk: str,
        sk: str,
        *,
        set: dict[str, Any] | None = None,
        add: dict[str, int | float] | None = None,
        remove: list[str] | None = None,
        must_exist: bool = True,
        if_version: int | None = None,
        on_fail: ApiError | None = None,
        set_in: dict[tuple[str, str], Any] | None = None,
        remove_in: list[tuple[str, str]] | None = None,
    ) -> None:
        """`set_in`/`remove_in` address one key of a map attribute: {("deployments", "2"): {...}}."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        clauses = []
        if set or set_in:
            parts = []
            for i, (attr, value) in enumerate((set or {}).items()):
                names[f"#s{i}"], values[f":s{i}"] = attr, encode(value)
                parts.append(f"#s{i} = :s{i}")
            for i, ((attr, key), value) in enumerate((set_in or {}).items()):
                names[f"#m{i}"], names[f"#k{i}"], values[f":m{i}"] = attr, key, encode(value)
                parts.append(f"#m{i}.#k{i} = :m{i}")
            clauses.append("SET " + ", ".join(parts))
        if add:
            parts = []
            for i, (attr, value) in enumerate(add.items()):
                names[f"#a{i}"], values[f":a{i}"] = attr, encode(value)
                parts.append(f"#a{i} :a{i}")
            clauses.append("ADD " + ", ".join(parts))
        if remove or remove_in:
            paths = []
            for i, attr in enumerate(remove or []):
                names[f"#r{i}"] = attr
                paths.append(f"#r{i}")
            for i, (attr, key) in enumerate(remove_in or []):
                names[f"#rm{i}"], names[f"#rk{i}"] = attr, key
                paths.append(f"#rm{i}.#rk{i}")
            clauses.append("REMOVE " + ", ".join(paths))
        op: dict[str, Any] = {
            "TableName": self._table,
            "Key": encode_item({"PK": pk, "SK": sk}),
            "UpdateExpression": " ".join(clauses),
            "ExpressionAttributeNames": names,
        }
        conditions = []
        if must_exist:
            conditions.append("attribute_exists(PK)")
        if if_version is not None:
            names["#version"], values[":expected_version"] = "version", encode(if_version)
            conditions.append("#version = :expected_version")
        if conditions:
            op["ConditionExpression"] = " AND ".join(conditions)
        if values:
            op["ExpressionAttributeValues"] = values
        self._ops.append(_Op({"Update": op}, on_fail))

    def delete(self, pk: str, sk: str, *, must_exist: bool = True, on_fail: ApiError | None = None) -> None:
        op: dict[str, Any] = {"TableName": self._table, "Key": encode_item({"PK": pk, "SK": sk})}
        if must_exist:
            op["ConditionExpression"] = "attribute_exists(PK)"
        self._ops.append(_Op({"Delete": op}, on_fail))

    # assembly ---------------------------------------------------------------------------------
    def assemble(self, event_ttl_seconds: int) -> tuple[list[dict[str, Any]], list[ApiError | None], dict]:
        items = [op.item for op in self._ops]
        failures: list[ApiError | None] = [op.on_fail for op in self._ops]
        for sk, counts in self._counts.items():
            names = {f"#n{i}": attr for i, attr in enumerate(counts)}
            values = {f":n{i}": encode(delta) for i, delta in enumerate(counts.values())}
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": encode_item({"PK": self.pk, "SK": sk}),
                        "UpdateExpression": "ADD " + ", ".join(f"#n{i} :n{i}" for i in range(len(counts))),
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                }
            )
            failures.append(None)
        new_meta = dict(self._meta)
        if not self._ids and not self._events:
            return items, failures, new_meta
        seq = int(self._meta.get("seq", 0))
        timestamp = clock.iso(self.now)
        expires = int(self.now.timestamp()) + event_ttl_seconds
        for event in self._events:
            seq += 1
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": encode_item(
                            {
                                "PK": self.pk,
                                "SK": keys.event_sk(seq),
                                "entity": "event",
                                "tenant": self.tenant,
                                "seq": seq,
                                "timestamp": timestamp,
                                "expires_at": expires,
                                **event,
                            }
                        ),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                }
            )
            failures.append(None)
        rev = int(self._meta.get("rev", 0))
        new_meta.update({f"next_{kind}": value for kind, value in self._ids.items()})
        new_meta.update({"seq": seq, "rev": rev + 1})
        assignments = {k: v for k, v in new_meta.items() if k not in ("PK", "SK")}
        names = {f"#m{i}": attr for i, attr in enumerate(assignments)}
        values = {f":m{i}": encode(value) for i, value in enumerate(assignments.values())}
        values[":rev"] = encode(rev)
        condition = "attribute_not_exists(#rev)" if rev == 0 else "#rev = :rev"
        names["#rev"] = "rev"
        if rev == 0:
            del values[":rev"]
        items.append(
            {
                "Update": {
                    "TableName": self._table,
                    "Key": encode_item({"PK": self.pk, "SK": keys.META_SK}),
                    "UpdateExpression": "SET " + ", ".join(f"#m{i} = :m{i}" for i in range(len(assignments))),
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        )
        failures.append(None)
        return items, failures, new_meta


class Store:
    def __init__(self, table: str | None = None, dynamodb: Any = None) -> None:
        self.table = table or get_settings().table_name
        self._client = dynamodb
        # Last seen meta item per tenant: a guess that the meta condition verifies.
        self._meta_cache: dict[str, dict[str, Any]] = {}

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("dynamodb")
        return self._client

    # reads ------------------------------------------------------------------------------------
    def get(self, pk: str, sk: str, *, consistent: bool = True) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.table, Key=encode_item({"PK": pk, "SK": sk}), ConsistentRead=consistent
        )
        item = response.get("Item")
        return decode_item(item) if item else None

    def batch_get(self, keys_: list[tuple[str, str]], *, meta_of: str | None = None) -> list[dict[str, Any]]:
        """The items that exist among `keys_`. `meta_of`: a tenant whose meta item (ids, event
        sequence) is read in the same call and kept, so a commit for that tenant right after builds
        on the current meta instead of failing once on a copy another process made stale."""
        meta_key = (keys.tenant_pk(meta_of), keys.META_SK) if meta_of else None
        found: list[dict[str, Any]] = []
        unique = list(dict.fromkeys([*keys_, *([meta_key] if meta_key else [])]))
        for start in range(0, len(unique), 100):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [encode_item({"PK": pk, "SK": sk}) for pk, sk in unique[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                found.extend(decode_item(i) for i in response.get("Responses", {}).get(self.table, []))
                request = response.get("UnprocessedKeys") or {}
        if meta_of is None:
            return found
        metas = [i for i in found if (i["PK"], i["SK"]) == meta_key]
        self._meta_cache[meta_of] = metas[0] if metas else {}
        return [i for i in found if (i["PK"], i["SK"]) != meta_key or meta_key in keys_]

    def query_page(
        self,
        *,
        pk: str,
        sk_prefix: str,
        limit: int,
        index: str | None = None,
        newest_first: bool = False,
        cursor: str | None = None,
        offset: int = 0,
        header_sk: str | None = None,
        where: Filter | None = None,
        sk_from: str | None = None,
        base_pk: str | None = None,
    ) -> Page:
        """One page of a collection, in key order. With `header_sk` (base table only) the page also
        carries the collection's header item (its counters): read by the same Query when the page
        starts at the beginning, apart when a cursor or offset starts past it ({} when none exists)."""
        pk_attr, sk_attr = (f"{index}PK", f"{index}SK") if index else ("PK", "SK")
        position_keys = {"PK", "SK", pk_attr, sk_attr}
        start_key = None
        if cursor:
            position = decode_cursor(cursor, {k for k in position_keys if k != pk_attr and k != "PK"})
            position[pk_attr] = pk
            # DynamoDB resumes a GSI query from the index key plus the item's base-table key.
            position["PK"] = base_pk or pk
            start_key = encode_item(position)
        names = {"#pk": pk_attr, "#sk": sk_attr}
        values: dict[str, Any] = {":pk": encode(pk), ":prefix": encode(sk_prefix)}
        condition = "#pk = :pk AND begins_with(#sk, :prefix)"
        if sk_from is not None:
            values[":from"] = encode(sk_from)
            values[":to"] = encode(sk_prefix + "\uffff")
            condition = "#pk = :pk AND #sk BETWEEN :from AND :to"
            del values[":prefix"]
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ScanIndexForward": not newest_first,
        }
        if index:
            request["IndexName"] = index
        else:
            request["ConsistentRead"] = True
        if where:
            request["FilterExpression"] = where.expression(names, values)
        request["ExpressionAttributeValues"] = values
        if start_key:
            request["ExclusiveStartKey"] = start_key
        wanted = offset + limit + 1  # one more than the page tells whether more remain
        collected: list[dict[str, Any]] = []
        header = None
        while True:
            # Read a little more than wanted so the header and filtered-out items rarely cost a round trip.
            request["Limit"] = max(wanted - len(collected) + 1, 10)
            response = self.client.query(**request)
            for raw in response.get("Items", []):
                item = decode_item(raw)
                if header_sk is not None and item.get("SK") == header_sk:
                    header = item
                    continue
                collected.append(item)
            last = response.get("LastEvaluatedKey")
            if len(collected) >= wanted or not last:
                break
            request["ExclusiveStartKey"] = last
        page_items = collected[offset : offset + limit]
        has_more = len(collected) > offset + limit
        next_cursor = None
        if has_more and page_items:
            tail = page_items[-1]
            next_cursor = encode_cursor(
                {k: tail[k] for k in sorted(position_keys) if k not in (pk_attr, "PK") and k in tail}
            )
        if header_sk is not None and header is None:
            header = self.get(pk, header_sk) or {}
        return Page(items=page_items, header=header, next_cursor=next_cursor)

    def count(
        self,
        *,
        pk: str,
        sk_prefix: str,
        index: str | None = None,
        where: Filter | None = None,
        sk_from: str | None = None,
        exclude_sk: str | None = None,
    ) -> int:
        """Items matching a key range and filter, for totals no counter keeps (combined filters)."""
        pk_attr, sk_attr = (f"{index}PK", f"{index}SK") if index else ("PK", "SK")
        names = {"#pk": pk_attr, "#sk": sk_attr}
        values: dict[str, Any] = {":pk": encode(pk)}
        if sk_from is not None:
            values[":from"], values[":to"] = encode(sk_from), encode(sk_prefix + "\uffff")
            condition = "#pk = :pk AND #sk BETWEEN :from AND :to"
        else:
            values[":prefix"] = encode(sk_prefix)
            condition = "#pk = :pk AND begins_with(#sk, :prefix)"
        filters = []
        if where:
            filters.append(where.expression(names, values))
        if exclude_sk:
            names["#skx"] = "SK"
            values[":skx"] = encode(exclude_sk)
            filters.append("#skx <> :skx")
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "Select": "COUNT",
        }
        if index:
            request["IndexName"] = index
        if filters:
            request["FilterExpression"] = " AND ".join(filters)
        total = 0
        while True:
            response = self.client.query(**request)
            total += int(response.get("Count", 0))
            last = response.get("LastEvaluatedKey")
            if not last:
                return total
            request["ExclusiveStartKey"] = last

    def query_until(self, *, index: str, pk: str, sk_to: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Items of an index partition whose sort key is at most `sk_to`, in key order (due lists)."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": "#pk = :pk AND #sk <= :to",
            "ExpressionAttributeNames": {"#pk": f"{index}PK", "#sk": f"{index}SK"},
            "ExpressionAttributeValues": {":pk": encode(pk), ":to": encode(sk_to)},
        }
        found: list[dict[str, Any]] = []
        while len(found) < limit:
            request["Limit"] = limit - len(found)
            response = self.client.query(**request)
            found.extend(decode_item(raw) for raw in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            request["ExclusiveStartKey"] = last
        return found

    # writes -----------------------------------------------------------------------------------
    def commit(self, tenant: str, build: Callable[[Tx], T]) -> T:
        """Build the change on the tenant's last known meta and commit it in one transaction."""
        ttl = get_settings().event_retention_days * 86400
        meta = self._meta_cache.get(tenant) or {}
        for attempt in range(_MAX_ATTEMPTS):
            tx = Tx(tenant, meta, self.table)
            result = build(tx)
            items, failures, new_meta = tx.assemble(ttl)
            if not items:
                return result
            try:
                self.client.transact_write_items(TransactItems=items)
            except self.client.exceptions.TransactionCanceledException as exc:
                reasons = exc.response.get("CancellationReasons", [])
                meta_reason = reasons[-1] if len(reasons) == len(items) else {}
                if (
                    meta_reason.get("Code") == "ConditionalCheckFailed"
                    and "Update" in items[-1]
                    and (items[-1]["Update"]["Key"]["SK"]["S"] == keys.META_SK)
                ):
                    # Another writer advanced the tenant's meta: rebuild on the current one.
                    current = meta_reason.get("Item")
                    meta = decode_item(current) if current else self._read_meta(tenant)
                    continue
                for reason, on_fail in zip(reasons, failures, strict=False):
                    if reason.get("Code") == "ConditionalCheckFailed" and on_fail is not None:
                        raise on_fail from None
                if any(r.get("Code") in ("TransactionConflict", "ThrottlingError") for r in reasons):
                    time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
                    meta = self._read_meta(tenant)
                    continue
                raise
            self._meta_cache[tenant] = new_meta
            return result
        raise StoreConflict("Too many concurrent changes; try again")

    def _read_meta(self, tenant: str) -> dict[str, Any]:
        return self.get(keys.tenant_pk(tenant), keys.META_SK) or {}

    def put(self, item: dict[str, Any], *, create_only: bool = False) -> None:
        """A write nobody else must hear about (rate-limit state, idempotency records, ...)."""
        request: dict[str, Any] = {"TableName": self.table, "Item": encode_item(item)}
        if create_only:
            request["ConditionExpression"] = "attribute_not_exists(PK)"
        self.client.put_item(**request)

    def put_unless(
        self, item: dict[str, Any], condition: str, names: dict[str, str], values: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Put `item` if `condition` holds on the item it replaces. When it does not, the item that
        stood in the way comes back with the refusal (ReturnValuesOnConditionCheckFailure), so the
        caller learns why without a second read; None means the put was made."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item=encode_item(item),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=encode_item(values),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            old = exc.response.get("Item")
            # DynamoDB always returns it for a condition on an existing item; read it if not.
            return decode_item(old) if old else (self.get(item["PK"], item["SK"]) or {})
        return None

    def delete(
        self,
        pk: str,
        sk: str,
        *,
        condition: str | None = None,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> bool:
        """Delete an item; with `condition`, only if it holds (False when it did not)."""
        request: dict[str, Any] = {"TableName": self.table, "Key": encode_item({"PK": pk, "SK": sk})}
        if condition:
            request["ConditionExpression"] = condition
            request["ExpressionAttributeNames"] = names or {}
            if values:
                request["ExpressionAttributeValues"] = encode_item(values)
        try:
            self.client.delete_item(**request)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True


_store: Store | None = None


def get_store() -> Store:
    global _store
    if _store is None:
        _store = Store()
    return _store


def reset_store() -> None:
    global _store
    _store = None
