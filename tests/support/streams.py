"""Read a table's DynamoDB stream (moto in process or a moto server) as Lambda would be handed it."""

from __future__ import annotations

from typing import Any

from infra.local.pump import lambda_record


class StreamReader:
    """Follows every shard of the table's stream from the moment it is created (LATEST)."""

    def __init__(self, dynamodb: Any, streams: Any, table: str) -> None:
        self._streams = streams
        self._arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        self._iterators: dict[str, str] = {}
        for shard in self._shards():
            self._iterators[shard] = streams.get_shard_iterator(
                StreamArn=self._arn, ShardId=shard, ShardIteratorType="LATEST"
            )["ShardIterator"]

    def _shards(self) -> list[str]:
        description = self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]
        return [shard["ShardId"] for shard in description["Shards"]]

    def drain(self) -> list[dict[str, Any]]:
        """Every record written since the last drain, in Lambda's event shape."""
        for shard in self._shards():
            if shard not in self._iterators:
                self._iterators[shard] = self._streams.get_shard_iterator(
                    StreamArn=self._arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
        records: list[dict[str, Any]] = []
        for shard, iterator in list(self._iterators.items()):
            response = self._streams.get_records(ShardIterator=iterator)
            self._iterators[shard] = response["NextShardIterator"]
            records += [lambda_record(record, self._arn) for record in response["Records"]]
        return records
