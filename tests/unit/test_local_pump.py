"""The local stack's stream pump: Lambda's event shape, LATEST on first start, retries without loss,
saved positions, and the real app handler fed by it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.local.pump import PositionFile, StreamPump

TABLE = "borgos-test"


class Recorder:
    """A deliver callback that keeps every batch and fails the first `failures` calls."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls: list[list[dict[str, Any]]] = []

    def __call__(self, records: list[dict[str, Any]]) -> None:
        self.calls.append(records)
        if self.failures:
            self.failures -= 1
            raise RuntimeError("handler failed")

    @property
    def keys(self) -> list[str]:
        return [r["dynamodb"]["Keys"]["SK"]["S"] for batch in self.calls for r in batch]


def _pump(deliver: Any, positions: Path) -> StreamPump:
    from chalicelib import aws

    return StreamPump(
        dynamodb=aws.client("dynamodb"),
        streams=aws.client("dynamodbstreams"),
        table=TABLE,
        deliver=deliver,
        positions=PositionFile(positions),
        batch_size=100,
    )


def _put(sk: str, **extra: Any) -> None:
    from chalicelib import aws

    aws.client("dynamodb").put_item(TableName=TABLE, Item={"PK": {"S": "T#t"}, "SK": {"S": sk}, **extra})


def test_records_have_the_lambda_event_shape(aws: None, tmp_path: Path) -> None:
    from chalice.app import DynamoDBEvent

    recorder = Recorder()
    pump = _pump(recorder, tmp_path / "pos.json")
    pump.attach()
    _put("A", blob={"B": b"\x00\xff"}, nested={"M": {"l": {"L": [{"B": b"x"}, {"N": "1"}]}}})
    assert pump.poll_once() == 1
    (record,) = recorder.calls[0]
    json.dumps({"Records": [record]})  # a Lambda event is plain JSON
    assert record["eventName"] == "INSERT"
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventSourceARN"] == pump.position.stream_arn
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
    assert record["dynamodb"]["NewImage"]["blob"] == {"B": "AP8="}
    assert record["dynamodb"]["NewImage"]["nested"]["M"]["l"]["L"][0] == {"B": "eA=="}
    assert record["dynamodb"]["Keys"] == {"PK": {"S": "T#t"}, "SK": {"S": "A"}}
    event = DynamoDBEvent({"Records": [record]}, None)
    assert [r.event_name for r in event] == ["INSERT"]


def test_a_ttl_removal_reaches_the_handler_with_lambdas_user_identity(aws: None, tmp_path: Path) -> None:
    """GetRecords names the identity PrincipalId/Type; Lambda's event, principalId/type."""
    from moto.dynamodb.models import dynamodb_backends

    from chalicelib import aws as aws_clients
    from chalicelib.stream import expired_by_ttl
    from infra.local.ttl import expire_due

    recorder = Recorder()
    pump = _pump(recorder, tmp_path / "pos.json")
    pump.attach()
    _put("gone", expires_at={"N": "1700000000"})
    _put("deleted")
    deleted = {"PK": {"S": "T#t"}, "SK": {"S": "deleted"}}
    aws_clients.client("dynamodb").delete_item(TableName=TABLE, Key=deleted)
    assert expire_due(dynamodb_backends, 1700000001) == 1
    assert pump.poll_once() == 4
    removals = {r["dynamodb"]["Keys"]["SK"]["S"]: r for r in recorder.calls[0] if r["eventName"] == "REMOVE"}
    assert removals["gone"]["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert expired_by_ttl(removals["gone"]) and not expired_by_ttl(removals["deleted"])


def test_first_start_begins_at_latest(aws: None, tmp_path: Path) -> None:
    _put("before")
    recorder = Recorder()
    pump = _pump(recorder, tmp_path / "pos.json")
    pump.attach()
    _put("after")
    pump.poll_once()
    assert recorder.keys == ["after"]


def test_a_failing_batch_is_retried_without_loss(aws: None, tmp_path: Path) -> None:
    positions = tmp_path / "pos.json"
    recorder = Recorder(failures=2)
    pump = _pump(recorder, positions)
    pump.attach()
    saved = positions.read_text()
    _put("A")
    _put("B")
    for _ in range(2):
        with pytest.raises(RuntimeError):
            pump.poll_once()
        assert positions.read_text() == saved  # nothing acknowledged
    _put("C")
    assert pump.poll_once() == 2
    assert pump.poll_once() == 1
    assert recorder.keys == ["A", "B", "A", "B", "A", "B", "C"]
    assert recorder.calls[0] == recorder.calls[2]  # the very same records again


def test_a_restarted_pump_resumes_after_its_saved_position(aws: None, tmp_path: Path) -> None:
    positions = tmp_path / "pos.json"
    first = Recorder()
    pump = _pump(first, positions)
    pump.attach()
    _put("A")
    pump.poll_once()
    _put("B")  # written while no pump runs
    second = Recorder()
    restarted = _pump(second, positions)
    restarted.attach()
    _put("C")
    restarted.poll_once()
    assert first.keys == ["A"]
    assert second.keys == ["B", "C"]
    saved = json.loads(positions.read_text())
    assert saved["stream_arn"] == restarted.position.stream_arn
    assert saved["shards"] == restarted.position.shards


def test_a_position_of_another_stream_is_not_used(aws: None, tmp_path: Path) -> None:
    positions = tmp_path / "pos.json"
    positions.write_text(json.dumps({"stream_arn": "arn:aws:dynamodb:old", "shards": {"s": "1"}}))
    _put("before")
    recorder = Recorder()
    pump = _pump(recorder, positions)
    pump.attach()
    _put("after")
    pump.poll_once()
    assert recorder.keys == ["after"]


def test_idle_polls_do_not_pile_up_iterators(aws: None, tmp_path: Path) -> None:
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    pump = _pump(Recorder(), tmp_path / "pos.json")
    pump.attach()
    pump.poll_once()
    backend = next(b for regions in dynamodbstreams_backends.values() for b in regions.values())
    before = len(backend.shard_iterators)
    for _ in range(5):
        pump.poll_once()
    assert len(backend.shard_iterators) == before


class _CountingStreams:
    """A DynamoDB Streams client that counts the calls it sends, by operation."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method) or name == "exceptions":
            return method

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return method(*args, **kwargs)

        return counted


def test_an_idle_poll_is_one_get_records_call_per_shard(aws: None, tmp_path: Path) -> None:
    from chalicelib import aws as aws_clients

    recorder = Recorder()
    pump = _pump(recorder, tmp_path / "pos.json")
    streams = _CountingStreams(aws_clients.client("dynamodbstreams"))
    pump.streams = streams
    pump.attach()
    streams.calls.clear()
    for _ in range(5):
        pump.poll_once()
    assert streams.calls == {"get_records": 5}  # the shards are listed again only every few seconds
    _put("A")
    pump.poll_once()
    assert recorder.keys == ["A"]


def test_the_apps_handler_enqueues_a_committed_job_request(
    aws: None, redis_queue: str, tmp_path: Path
) -> None:
    import redis
    from rq import Queue

    from app import app
    from chalicelib import jobs
    from chalicelib.store.table import get_store
    from infra.local.config import StackConfig
    from infra.local.triggers import stream_pumps

    (pump,) = stream_pumps(app, StackConfig(state_dir=tmp_path), TABLE)
    pump.attach()
    job_id = get_store().commit(
        "alice", lambda tx: jobs.request_job(tx, function="workers.diagnostics.ping", kwargs={"text": "hi"})
    )
    assert pump.poll_once() >= 1
    queue = Queue(jobs.SHARED_QUEUE, connection=redis.Redis.from_url(redis_queue))
    assert queue.job_ids == [job_id]
