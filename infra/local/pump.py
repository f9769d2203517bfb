"""The stream pump: what Lambda's event source mapping does for the table's stream, locally.

It reads the table's DynamoDB stream from moto (shards, iterators, GetRecords) and calls a handler
with Lambda-shaped events (`{"Records": [...]}`, binary values base64 text, creation time in epoch
seconds, `eventSourceARN` on every record). Like Lambda:
- a batch whose handler raises is retried, the same records again, until it succeeds: nothing is
  skipped, and records behind it wait (per shard order is kept);
- the position (last delivered sequence number per shard) is saved after each delivered batch, so
  a restarted pump goes on where it stopped. The first start (or a new stream, e.g. after moto
  restarted and restored its snapshot) begins at LATEST (the end of the shard, as a sequence number);
- each shard is polled with GetRecords at a fixed rate (`poll_interval` from the start of one poll to
  the next; Lambda's base rate is 4 polls a second per shard), and the list of shards is asked for
  only every SHARD_LISTING_SECONDS (Lambda discovers new shards periodically too), so an idle poll
  is one GetRecords call per shard.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger

from infra.local.dynamo_json import item_to_wire
from infra.local.snapshot import write_atomic

logger = Logger(service="borgos-local-pump")

Deliver = Callable[[list[dict[str, Any]]], None]
SHARD_LISTING_SECONDS = 10.0


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """One GetRecords record (botocore's form) in the shape Lambda hands to a stream handler."""
    ddb = dict(record.get("dynamodb") or {})
    created = ddb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        ddb["ApproximateCreationDateTime"] = int(created.timestamp())
    for image in ("Keys", "NewImage", "OldImage"):
        if image in ddb:
            ddb[image] = item_to_wire(ddb[image])
    shaped: dict[str, Any] = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", "us-east-1"),
        "dynamodb": ddb,
        "eventSourceARN": stream_arn,
    }
    identity = record.get("userIdentity")
    if identity:  # GetRecords says PrincipalId/Type; Lambda's event, principalId/type
        shaped["userIdentity"] = {"type": identity.get("Type"), "principalId": identity.get("PrincipalId")}
    return shaped


@dataclass
class Position:
    """Where the pump is: the stream and the last delivered sequence number of each shard."""

    stream_arn: str = ""
    shards: dict[str, str] = field(default_factory=dict)


class PositionFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Position:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return Position()
        return Position(stream_arn=str(data.get("stream_arn", "")), shards=dict(data.get("shards", {})))

    def save(self, position: Position) -> None:
        payload = {"stream_arn": position.stream_arn, "shards": position.shards}
        write_atomic(self.path, json.dumps(payload, sort_keys=True).encode())


@dataclass
class _Shard:
    iterator: str | None
    pending: list[dict[str, Any]] = field(default_factory=list)
    next_iterator: str | None = None


class StreamPump:
    """Follows one table's stream for one handler (Lambda keeps a position per event source mapping)."""

    def __init__(
        self,
        *,
        dynamodb: Any,
        streams: Any,
        table: str,
        deliver: Deliver,
        positions: PositionFile,
        batch_size: int = 100,
    ) -> None:
        self.dynamodb = dynamodb
        self.streams = streams
        self.table = table
        self.deliver = deliver
        self.positions = positions
        self.batch_size = batch_size
        self.position = Position()
        self._shards: dict[str, _Shard] = {}
        self._next_listing = 0.0  # monotonic time at which the shards are listed again

    # -- attaching ------------------------------------------------------------------------------

    def attach(self) -> None:
        """Open iterators: after the saved position on the same stream, else at LATEST."""
        arn = self.dynamodb.describe_table(TableName=self.table)["Table"]["LatestStreamArn"]
        saved = self.positions.load()
        resume = saved.stream_arn == arn
        self.position = saved if resume else Position(stream_arn=arn)
        self._shards = {}
        for shard_id in self._shard_ids():
            if not resume:
                self._skip_to_end(shard_id)
            self._shards[shard_id] = _Shard(self._iterator(shard_id))
        if not resume:
            self.positions.save(self.position)
        logger.info("pump attached", stream_arn=arn, resumed=resume, shards=len(self._shards))

    def _shard_ids(self) -> list[str]:
        self._next_listing = time.monotonic() + SHARD_LISTING_SECONDS
        description = self.streams.describe_stream(StreamArn=self.position.stream_arn)["StreamDescription"]
        return [shard["ShardId"] for shard in description["Shards"]]

    def _skip_to_end(self, shard_id: str) -> None:
        """Start at LATEST, but as a sequence number: read past what the shard holds, so the saved
        position is exact and a restart resumes there (a LATEST iterator has no number to save)."""
        iterator: str | None = self._iterator(shard_id, "TRIM_HORIZON")
        while iterator:
            response = self.streams.get_records(ShardIterator=iterator, Limit=1000)
            records = response.get("Records", [])
            if not records:
                break
            self.position.shards[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
            iterator = response.get("NextShardIterator")

    def _iterator(self, shard_id: str, kind: str | None = None) -> str:
        """An iterator for `shard_id`: `kind` if given, else right after the last delivered record,
        else (a shard we never delivered from) its start."""
        args: dict[str, Any] = {"StreamArn": self.position.stream_arn, "ShardId": shard_id}
        sequence = self.position.shards.get(shard_id)
        if kind is None and sequence:
            args.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=sequence)
        else:
            args["ShardIteratorType"] = kind or "TRIM_HORIZON"
        return str(self.streams.get_shard_iterator(**args)["ShardIterator"])

    # -- pumping --------------------------------------------------------------------------------

    def poll_once(self) -> int:
        """Fetch what is new and deliver it; returns how many records were delivered. Raises what
        the handler raised (the batch stays pending and is delivered again next time)."""
        if time.monotonic() >= self._next_listing:
            for shard_id in self._shard_ids():
                if shard_id not in self._shards:  # a shard that appeared since: from its start
                    self._shards[shard_id] = _Shard(self._iterator(shard_id))
        delivered = 0
        for shard_id, shard in list(self._shards.items()):
            if not shard.pending:
                self._fetch(shard_id, shard)
            if shard.pending:
                self.deliver(shard.pending)
                delivered += len(shard.pending)
                self.position.shards[shard_id] = shard.pending[-1]["dynamodb"]["SequenceNumber"]
                self.positions.save(self.position)
                shard.pending = []
                shard.iterator = shard.next_iterator
            if shard.iterator is None:  # a closed shard, read to its end: its children follow it
                del self._shards[shard_id]
                self._next_listing = 0.0
        return delivered

    def _fetch(self, shard_id: str, shard: _Shard) -> None:
        if shard.iterator is None:
            return
        try:
            response = self.streams.get_records(ShardIterator=shard.iterator, Limit=self.batch_size)
        except self.streams.exceptions.ExpiredIteratorException:
            shard.iterator = self._iterator(shard_id)
            response = self.streams.get_records(ShardIterator=shard.iterator, Limit=self.batch_size)
        records = [lambda_record(r, self.position.stream_arn) for r in response.get("Records", [])]
        if records:
            shard.pending = records
            shard.next_iterator = response.get("NextShardIterator")
        elif response.get("NextShardIterator") is None:
            shard.iterator = None
        # With nothing new the same iterator is asked again: moto keeps every iterator it hands
        # out, so taking a fresh one per idle poll would grow its memory without bound.

    def run(self, stop: threading.Event, *, poll_interval: float = 0.2, max_backoff: float = 30.0) -> None:
        """Pump until `stop` is set, one poll every `poll_interval` seconds (start to start; at once
        again after a delivered batch). A failing batch is retried with backoff, never skipped."""
        backoff = poll_interval
        attached = bool(self.position.stream_arn)
        while not stop.is_set():
            started = time.monotonic()
            try:
                if not attached:
                    self.attach()
                    attached = True
                delivered = self.poll_once()
                backoff = poll_interval
                if delivered:
                    continue
            except Exception:
                logger.exception("stream batch failed; retrying", retry_in=backoff)
                # Lost stream or moto restarted: find the stream again on the next round.
                attached = attached and not self._stream_lost()
                stop.wait(backoff)
                backoff = min(backoff * 2, max_backoff)
                continue
            stop.wait(max(0.0, started + poll_interval - time.monotonic()))

    def _stream_lost(self) -> bool:
        try:
            arn = self.dynamodb.describe_table(TableName=self.table)["Table"]["LatestStreamArn"]
        except Exception:
            return True
        return bool(arn != self.position.stream_arn)
