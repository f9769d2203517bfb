"""Run committed job requests the way production does: the table stream enqueues them on RQ, and a
real RQ worker (SimpleWorker: in this process, so it sees the in-process moto) runs them."""

from __future__ import annotations

import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import redis
from rq import Queue, SimpleWorker

from tests.support.streams import StreamReader


def enqueue_committed(stream: StreamReader) -> None:
    from app import on_table_change

    on_table_change({"Records": stream.drain()}, None)


# The signals an RQ worker takes over in `work()` (rq's _install_signal_handlers) and never gives
# back: left installed, the test process would answer a SIGTERM by raising StopRequested wherever
# its main thread happens to be, instead of exiting.
_WORKER_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def restored_signal_handlers() -> Iterator[None]:
    saved = {number: signal.getsignal(number) for number in _WORKER_SIGNALS}
    try:
        yield
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


def work(redis_url: str, queues: Sequence[str]) -> None:
    """Run every job waiting on `queues`, in queue order, and return when they are all done."""
    connection = redis.Redis.from_url(redis_url)
    worker = SimpleWorker([Queue(name, connection=connection) for name in queues], connection=connection)
    with restored_signal_handlers():
        worker.work(burst=True, with_scheduler=False)
