"""Snapshots of the emulated AWS state (the table's items and the bucket's objects) so the local
stack keeps its data across restarts.

`capture` reads moto's backends directly; the moto server calls it while holding the lock that
serializes requests, so a snapshot is one consistent point in time (never half a transaction).
`restore` writes a snapshot back through the ordinary APIs, before the server is reported ready.
`write_atomic` replaces the file in one rename: a crash leaves the previous snapshot or the new one,
never a torn file."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infra.local.dynamo_json import item_from_wire

FORMAT_VERSION = 1
_BATCH = 25  # BatchWriteItem's limit
_USER_METADATA = "x-amz-meta-"


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _backends(backend_dict: Any) -> Iterator[Any]:
    for regions in list(backend_dict.values()):
        yield from list(regions.values())


def capture(table_name: str, bucket_name: str) -> dict[str, Any]:
    """The table's items (DynamoDB JSON) and the bucket's objects, read from moto's backends."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.utilities import dynamo_json_dump
    from moto.s3.models import FakeKey, s3_backends

    items: list[dict[str, Any]] = []
    for backend in _backends(dynamodb_backends):
        table = backend.tables.get(table_name)
        if table is not None:
            # moto's own JSON encoder gives the wire form (binary as base64 text).
            items = [json.loads(dynamo_json_dump(item.to_json()["Attributes"])) for item in table.all_items()]
            break
    objects: list[dict[str, Any]] = []
    for backend in _backends(s3_backends):
        bucket = backend.buckets.get(bucket_name)
        if bucket is None:
            continue
        for key, value in bucket.keys.items():
            if not isinstance(value, FakeKey):
                continue  # delete markers of versioned buckets
            metadata = dict(value.metadata)
            objects.append(
                {
                    "key": key,
                    "body": base64.b64encode(value.value).decode("ascii"),
                    "content_type": metadata.pop("Content-Type", None) or metadata.pop("content-type", None),
                    "metadata": {
                        k[len(_USER_METADATA) :]: str(v)
                        for k, v in metadata.items()
                        if k.lower().startswith(_USER_METADATA)
                    },
                }
            )
        break
    return {
        "version": FORMAT_VERSION,
        "table": table_name,
        "items": items,
        "bucket": bucket_name,
        "objects": objects,
    }


def encode(snapshot: dict[str, Any]) -> bytes:
    return json.dumps(snapshot, separators=(",", ":"), sort_keys=True).encode()


def load(path: Path) -> dict[str, Any] | None:
    """The snapshot at `path`, or None when there is none yet."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    if data.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unknown snapshot format {data.get('version')!r}")
    return dict(data)


def restore(snapshot: dict[str, Any], dynamodb: Any, s3: Any, table_name: str, bucket_name: str) -> None:
    """Write a snapshot's items and objects into the (empty, just created) table and bucket."""
    items = snapshot.get("items", [])
    for start in range(0, len(items), _BATCH):
        requests: Any = {
            table_name: [
                {"PutRequest": {"Item": item_from_wire(item)}} for item in items[start : start + _BATCH]
            ]
        }
        while requests:
            response = dynamodb.batch_write_item(RequestItems=requests)
            requests = response.get("UnprocessedItems") or None
    for obj in snapshot.get("objects", []):
        extra: dict[str, Any] = {"Metadata": obj.get("metadata") or {}}
        if obj.get("content_type"):
            extra["ContentType"] = obj["content_type"]
        s3.put_object(Bucket=bucket_name, Key=obj["key"], Body=base64.b64decode(obj["body"]), **extra)
