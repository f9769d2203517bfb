"""Run committed job requests the way production does: the table stream enqueues them on RQ, and a
real RQ worker (SimpleWorker: in this process, so it sees the in-process moto) runs them."""

from __future__ import annotations

from collections.abc import Sequence

import redis
from rq import Queue, SimpleWorker

from tests.support.streams import StreamReader


def enqueue_committed(stream: StreamReader) -> None:
    from app import on_table_change

    on_table_change({"Records": stream.drain()}, None)


def work(redis_url: str, queues: Sequence[str]) -> None:
    """Run every job waiting on `queues`, in queue order, and return when they are all done."""
    connection = redis.Redis.from_url(redis_url)
    worker = SimpleWorker([Queue(name, connection=connection) for name in queues], connection=connection)
    worker.work(burst=True, with_scheduler=False)
