"""Snapshots of the local stack's emulated AWS state: atomic writes, a faithful round trip, and the
moto server's request lock that makes a snapshot one point in time."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from infra.local import snapshot
from infra.local.moto_server import SerializedApp, Snapshotter, is_write


def test_write_atomic_replaces_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "state" / "snap.json"
    snapshot.write_atomic(path, b"first")
    snapshot.write_atomic(path, b"second")
    assert path.read_bytes() == b"second"
    assert os.listdir(path.parent) == ["snap.json"]  # no temporary file left


def test_a_failed_write_leaves_the_previous_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "snap.json"
    snapshot.write_atomic(path, b"good")

    def crash(*_args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError):
        snapshot.write_atomic(path, b"torn")
    assert path.read_bytes() == b"good"
    assert os.listdir(tmp_path) == ["snap.json"]


def test_round_trip_of_items_and_objects(aws: None, tmp_path: Path) -> None:
    from chalicelib import aws as clients
    from infra.table import create_table

    dynamodb, s3 = clients.client("dynamodb"), clients.client("s3")
    items = [
        {"PK": {"S": "T#a"}, "SK": {"S": f"ITEM#{i:03d}"}, "n": {"N": str(i)}, "flag": {"BOOL": i % 2 == 0}}
        for i in range(60)  # more than one BatchWriteItem
    ]
    items.append(
        {
            "PK": {"S": "T#a"},
            "SK": {"S": "ODD"},
            "blob": {"B": b"\x00\xff"},
            "blobs": {"BS": [b"a", b"b"]},
            "nums": {"NS": ["1", "2.5"]},
            "deep": {"M": {"list": {"L": [{"S": "x"}, {"NULL": True}, {"M": {"b": {"B": b"z"}}}]}}},
        }
    )
    for item in items:
        dynamodb.put_item(TableName="borgos-test", Item=item)
    s3.create_bucket(Bucket="art")
    s3.put_object(
        Bucket="art", Key="a/b.tar", Body=b"\x01binary", ContentType="application/x-tar", Metadata={"m": "1"}
    )
    s3.put_object(Bucket="art", Key="plain.txt", Body=b"hello")

    path = tmp_path / "snap.json"
    snapshot.write_atomic(path, snapshot.encode(snapshot.capture("borgos-test", "art")))
    saved = snapshot.load(path)
    assert saved is not None
    create_table(dynamodb, "restored")
    s3.create_bucket(Bucket="restored-art")
    snapshot.restore(saved, dynamodb, s3, "restored", "restored-art")

    def everything(table: str) -> list[dict[str, Any]]:
        return sorted(dynamodb.scan(TableName=table)["Items"], key=lambda item: item["SK"]["S"])

    assert everything("restored") == everything("borgos-test")
    copy = s3.get_object(Bucket="restored-art", Key="a/b.tar")
    assert copy["Body"].read() == b"\x01binary"
    assert copy["ContentType"] == "application/x-tar"
    assert copy["Metadata"] == {"m": "1"}
    assert s3.get_object(Bucket="restored-art", Key="plain.txt")["Body"].read() == b"hello"


def test_load_without_a_snapshot_and_with_an_unknown_format(tmp_path: Path) -> None:
    assert snapshot.load(tmp_path / "missing.json") is None
    (tmp_path / "v9.json").write_text(json.dumps({"version": 9}))
    with pytest.raises(ValueError, match="unknown snapshot format"):
        snapshot.load(tmp_path / "v9.json")


@pytest.mark.parametrize(
    ("environ", "write"),
    [
        ({"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.TransactWriteItems", "REQUEST_METHOD": "POST"}, True),
        ({"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.Query", "REQUEST_METHOD": "POST"}, False),
        ({"HTTP_X_AMZ_TARGET": "DynamoDBStreams_20120810.GetRecords", "REQUEST_METHOD": "POST"}, False),
        ({"REQUEST_METHOD": "PUT"}, True),
        ({"REQUEST_METHOD": "GET"}, False),
    ],
)
def test_writes_are_told_from_reads(environ: dict[str, str], write: bool) -> None:
    assert is_write(environ) is write


def test_requests_reach_moto_one_at_a_time_and_mark_the_state_dirty() -> None:
    active = 0
    most = 0
    guard = threading.Lock()

    def slow_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        nonlocal active, most
        with guard:
            active += 1
            most = max(most, active)
        time.sleep(0.01)
        with guard:
            active -= 1
        return [b"ok"]

    app = SerializedApp(slow_app)
    read = {"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.GetItem"}
    threads = [threading.Thread(target=app, args=(read, lambda *_: None)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1
    assert not app.dirty.is_set()
    app({"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem"}, lambda *_: None)
    assert app.dirty.is_set()


def test_the_snapshotter_writes_only_after_changes(aws: None, tmp_path: Path) -> None:
    from infra.local.config import StackConfig

    app = SerializedApp(lambda environ, start_response: [b""])
    snapshots = Snapshotter(app, StackConfig(state_dir=tmp_path), "borgos-test", "none")
    assert snapshots.save_if_dirty() is False
    assert not StackConfig(state_dir=tmp_path).snapshot_path.exists()
    app.dirty.set()
    assert snapshots.save_if_dirty() is True
    assert not app.dirty.is_set()
    assert json.loads(StackConfig(state_dir=tmp_path).snapshot_path.read_text())["table"] == "borgos-test"
