"""Where moto's DynamoDB differs from DynamoDB in ways BorgOS depends on, this module makes it behave.

Transactions: moto applies a transaction's writes one by one and, when a condition fails, swaps in a
deep copy of the whole table taken beforehand. Two things break: the stream already carries records
for the writes that were undone (a reader sees changes that never committed), and open stream
iterators keep pointing at the discarded table, so they miss every later change. The copy also makes
each transaction cost O(table). DynamoDB evaluates every condition first and writes nothing unless
all hold; `atomic_transact_write_items` does the same, so the stream only ever shows committed writes.

Idle stream polls: see `idle_get_keeps_iterator`.

Apply with `apply()` before the backend serves requests (the local stack's moto server and the unit
tests' in-process moto both do)."""

from __future__ import annotations

from typing import Any

_applied = False


def atomic_transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen: set[tuple[str, str]] = set()
    planned: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    errors: list[tuple[Any, Any, Any]] = []
    # First pass: keys, uniqueness and every condition, against the table as it is.
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException()
        op_type, op = next(iter(entry.items()))
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            raise ValueError("Unsupported transaction operation")
        table = self.get_table(op["TableName"])
        if op_type == "Put":
            key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = op["Item"][table.range_key_attr]
        else:
            key = op["Key"]
        identity = (op["TableName"], str(dict(sorted(key.items()))))
        if identity in seen:
            raise MultipleTransactionsException()
        seen.add(identity)
        current = self.get_item(op["TableName"], key)
        condition = op.get("ConditionExpression")
        if condition is not None:
            check = get_filter_expression(
                condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            )
            if not check.expr(current):
                old = None
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    old = current.to_json()["Attributes"]
                errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
                continue
        errors.append((None, None, None))
        planned.append((op_type, op, key))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    # Second pass: every condition held, so write (conditions are not evaluated again).
    for op_type, op, key in planned:
        names = op.get("ExpressionAttributeNames")
        values = op.get("ExpressionAttributeValues")
        if op_type == "Put":
            self.put_item(op["TableName"], op["Item"])
        elif op_type == "Delete":
            self.delete_item(op["TableName"], key)
        elif op_type == "Update":
            self.update_item(
                op["TableName"],
                key,
                update_expression=op["UpdateExpression"],
                condition_expression=None,
                expression_attribute_names=names,
                expression_attribute_values=values,
            )


def idle_get_keeps_iterator(self: Any, limit: int = 1000) -> dict[str, Any]:
    """GetRecords without new records answers with the same iterator (DynamoDB's stays valid for
    15 minutes). moto registers a fresh iterator on every call and never forgets one, so a pump
    polling an idle stream several times a second would grow the server's memory without bound."""
    items = self.stream_shard.get(self.sequence_number, limit)
    if not items:
        return {"NextShardIterator": self.arn, "Records": []}
    return _original_iterator_get(self, limit)


_original_iterator_get: Any = None


def serialized_dynamodb_actions() -> None:
    """moto's DynamoDB backend is not thread-safe: a Query iterating a table while another thread
    inserts fails with "dictionary changed size during iteration". DynamoDB itself serves requests
    concurrently; here one lock runs each action whole (the WebSocket emulator and the fan-out call
    DynamoDB from many threads)."""
    import threading

    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    call_action = DynamoHandler.call_action

    def locked(self: Any) -> Any:
        with lock:
            return call_action(self)

    DynamoHandler.call_action = locked  # type: ignore[method-assign]


def apply() -> None:
    global _applied, _original_iterator_get
    if _applied:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodbstreams.models import ShardIterator

    DynamoDBBackend.transact_write_items = atomic_transact_write_items  # type: ignore[method-assign]
    _original_iterator_get = ShardIterator.get
    ShardIterator.get = idle_get_keeps_iterator  # type: ignore[method-assign]
    serialized_dynamodb_actions()
    _applied = True
