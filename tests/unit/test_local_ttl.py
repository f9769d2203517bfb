"""The local stack's TTL emulation (infra/local/ttl.py) against moto in process: what expires, what
stays, and the stream records the app's handler takes for TTL's."""

from __future__ import annotations

import time
from typing import Any

from chalicelib import aws
from chalicelib.config import get_settings
from chalicelib.store import keys
from chalicelib.store.table import get_store
from infra.local.ttl import IGNORED_AFTER_SECONDS, expire_due
from tests.support.streams import StreamReader

NOW = 1_800_000_000.0


def backends() -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends


def put(sk: str, **attributes: dict[str, str]) -> None:
    aws.client("dynamodb").put_item(
        TableName=get_settings().table_name, Item={"PK": {"S": "T#ttl"}, "SK": {"S": sk}, **attributes}
    )


def stored() -> set[str]:
    items = aws.client("dynamodb").query(
        TableName=get_settings().table_name,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "T#ttl"}},
    )["Items"]
    return {item["SK"]["S"] for item in items}


def reader() -> StreamReader:
    return StreamReader(aws.client("dynamodb"), aws.client("dynamodbstreams"), get_settings().table_name)


def test_only_items_past_their_number_go_each_with_a_ttl_remove_record(aws: None) -> None:
    from chalicelib.stream import expired_by_ttl

    put("due", expires_at={"N": str(int(NOW) - 1)})
    put("now", expires_at={"N": str(int(NOW))})
    put("later", expires_at={"N": str(int(NOW) + 60)})
    put("ancient", expires_at={"N": str(int(NOW - IGNORED_AFTER_SECONDS) - 1)})  # taken for a mistake
    put("text", expires_at={"S": str(int(NOW) - 1)})  # TTL reads Numbers only
    put("none")
    stream = reader()
    assert expire_due(backends(), NOW) == 2
    assert stored() == {"later", "ancient", "text", "none"}
    records = stream.drain()
    assert sorted(r["dynamodb"]["Keys"]["SK"]["S"] for r in records) == ["due", "now"]
    assert all(r["eventName"] == "REMOVE" and expired_by_ttl(r) for r in records)
    assert expire_due(backends(), NOW) == 0  # nothing left to expire


def test_a_table_without_ttl_keeps_everything(aws: None) -> None:
    from chalicelib.aws import client as aws_client

    client = aws_client("dynamodb")
    client.update_time_to_live(
        TableName=get_settings().table_name,
        TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"},
    )
    put("due", expires_at={"N": str(int(NOW) - 1)})
    assert expire_due(backends(), NOW) == 0 and stored() == {"due"}


def test_an_expired_error_leaves_the_totals_through_the_apps_stream_handler(aws: None) -> None:
    """The path the local stack now runs: TTL deletes, the stream carries it, the handler accounts."""
    from app import on_table_change
    from chalicelib import errorlog, projects
    from chalicelib.models.errors import ErrorCreate
    from chalicelib.models.projects import ProjectCreate

    projects.create_project("alice", ProjectCreate(name="p", path="/p"))
    for severity in ("critical", "warning"):
        errorlog.log_error("alice", ErrorCreate(project_id=1, error_type="x", severity=severity, message="m"))
    errors = get_store().query_page(pk=keys.tenant_pk("alice"), sk_prefix="ERROR#2", limit=10).items
    critical = next(item for item in errors if item["severity"] == "critical")
    get_store().put({**critical, "expires_at": int(time.time()) - 1})
    stream = reader()
    assert expire_due(backends(), time.time()) == 1
    on_table_change({"Records": stream.drain()}, None)
    assert errorlog.list_errors("alice", limit=10)[2] == 1
    assert errorlog.list_errors("alice", limit=10, severity="critical")[2] == 0
    project = get_store().get(keys.tenant_pk("alice"), keys.entity_sk("PROJECT", 1))
    assert project is not None and project["error_count"] == 1


def test_the_moto_server_sweeps_between_requests_and_marks_its_state_for_a_snapshot(aws: None) -> None:
    from infra.local.moto_server import SerializedApp

    app = SerializedApp(lambda environ, start_response: [])
    put("due", expires_at={"N": str(int(NOW) - 1)})
    assert not app.dirty.is_set()
    assert app.expire_ttl(NOW) == 1 and app.dirty.is_set()
    app.dirty.clear()
    assert app.expire_ttl(NOW) == 0 and not app.dirty.is_set()
