from __future__ import annotations

from typing import Any

import pytest

from chalicelib.store import keys
from chalicelib.store.codec import encode_item
from chalicelib.store.table import get_store


def _ttl_removal(old: dict[str, Any]) -> dict[str, Any]:
    """The record DynamoDB streams when TTL deletes an item."""
    return {
        "eventID": "1",
        "eventName": "REMOVE",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/borgos/stream/x",
        "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
        "dynamodb": {"OldImage": encode_item(old), "Keys": encode_item({"PK": old["PK"], "SK": old["SK"]})},
    }


@pytest.fixture
def two_errors(aws: None) -> dict[str, Any]:
    """A project with a critical and a warning error; returns the critical one's item."""
    from chalicelib import errorlog, projects
    from chalicelib.models.errors import ErrorCreate
    from chalicelib.models.projects import ProjectCreate

    projects.create_project("alice", ProjectCreate(name="p", path="/p"))
    for severity in ("critical", "warning"):
        errorlog.log_error("alice", ErrorCreate(project_id=1, error_type="x", severity=severity, message="m"))
    items = get_store().query_page(pk=keys.tenant_pk("alice"), sk_prefix="ERROR#2", limit=10).items
    critical = next(i for i in items if i["severity"] == "critical")
    get_store().delete(critical["PK"], critical["SK"])  # what TTL does before streaming its record
    return critical


def test_ttl_expired_errors_leave_every_total(two_errors: dict[str, Any]) -> None:
    from app import on_table_change
    from chalicelib import errorlog

    on_table_change({"Records": [_ttl_removal(two_errors)]}, None)
    assert errorlog.list_errors("alice", limit=10)[2] == 1
    assert errorlog.list_errors("alice", limit=10, severity="critical")[2] == 0
    assert errorlog.list_errors("alice", limit=10, severity="warning")[2] == 1
    assert errorlog.list_errors("alice", limit=10, project_id=1)[2] == 1


def test_deliberate_deletes_are_not_taken_for_ttl(two_errors: dict[str, Any]) -> None:
    from chalicelib import errorlog, stream

    record = _ttl_removal(two_errors)
    record["userIdentity"] = None
    assert stream.account_expired_errors([record]) == 0
    assert errorlog.list_errors("alice", limit=10)[2] == 2


def test_expired_errors_of_a_deleted_project_do_not_bring_it_back(two_errors: dict[str, Any]) -> None:
    from app import on_table_change
    from chalicelib import errorlog, projects

    projects.delete_project("alice", 1)
    on_table_change({"Records": [_ttl_removal(two_errors)]}, None)
    assert get_store().get(keys.tenant_pk("alice"), keys.entity_sk("PROJECT", 1)) is None
    assert errorlog.list_errors("alice", limit=10, severity="critical")[2] == 0
