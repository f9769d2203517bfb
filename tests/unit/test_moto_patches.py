"""The local emulator's transactions behave like DynamoDB's: a cancelled one leaves no trace on the
stream, and a stream reader keeps seeing the changes that follow it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chalicelib import aws as aws_clients
from chalicelib.config import get_settings
from chalicelib.errors import NotFound
from chalicelib.store.table import Tx, get_store
from tests.support.streams import StreamReader


def _put(sk: str, *, then_fail: bool = False) -> Callable[[Tx], None]:
    def build(tx: Tx) -> None:
        tx.put({"PK": tx.pk, "SK": sk, "v": 1}, create_only=True)
        if then_fail:
            tx.update(tx.pk, "MISSING#1", add={"n": 1}, on_fail=NotFound("missing"))

    return build


def test_a_cancelled_transaction_streams_nothing_and_the_stream_goes_on(aws: None) -> None:
    reader = StreamReader(
        aws_clients.client("dynamodb"), aws_clients.client("dynamodbstreams"), get_settings().table_name
    )
    store = get_store()
    with pytest.raises(NotFound):
        store.commit("alice", _put("A#1", then_fail=True))
    assert reader.drain() == []
    store.commit("alice", _put("A#2"))
    records = reader.drain()
    assert [r["dynamodb"]["Keys"]["SK"]["S"] for r in records] == ["A#2"]
    assert store.get("T#alice", "A#1") is None


def test_returned_old_item_on_condition_failure(aws: None) -> None:
    client = aws_clients.client("dynamodb")
    table = get_settings().table_name
    client.put_item(TableName=table, Item={"PK": {"S": "x"}, "SK": {"S": "y"}, "rev": {"N": "3"}})
    with pytest.raises(client.exceptions.TransactionCanceledException) as caught:
        client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"PK": {"S": "x"}, "SK": {"S": "y"}},
                        "UpdateExpression": "SET rev = :n",
                        "ConditionExpression": "rev = :e",
                        "ExpressionAttributeValues": {":n": {"N": "2"}, ":e": {"N": "1"}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                }
            ]
        )
    reason = caught.value.response["CancellationReasons"][0]
    assert reason["Code"] == "ConditionalCheckFailed" and reason["Item"]["rev"] == {"N": "3"}
