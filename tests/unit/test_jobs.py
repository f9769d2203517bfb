from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from rq import Queue

from chalicelib import aws, jobs
from chalicelib.errors import NotFound
from chalicelib.store.table import Tx, get_store
from tests.support.streams import StreamReader


@pytest.fixture
def stream(aws: None) -> Iterator[StreamReader]:
    from chalicelib.config import get_settings

    yield StreamReader(aws_client("dynamodb"), aws_client("dynamodbstreams"), get_settings().table_name)


def aws_client(name: str) -> Any:
    return aws.client(name)


def _request(tx: Tx) -> str:
    return jobs.request_job(tx, function="workers.sample.run", kwargs={"n": 1}, queue="host.alpha")


def test_a_committed_request_becomes_one_rq_job(stream: StreamReader, redis_queue: str) -> None:
    from app import on_table_change

    job_id = get_store().commit("alice", _request)
    records = stream.drain()
    on_table_change({"Records": records}, None)
    on_table_change({"Records": records}, None)  # a retried batch
    queue = Queue("host.alpha", connection=redis.Redis.from_url(redis_queue))
    assert queue.job_ids == [job_id]
    job = queue.fetch_job(job_id)
    assert job is not None and job.func_name == "workers.sample.run" and job.kwargs == {"n": 1}


def test_a_change_that_fails_requests_nothing(stream: StreamReader, redis_queue: str) -> None:
    from app import on_table_change

    def failing(tx: Tx) -> None:
        _request(tx)
        tx.update(tx.pk, "PROJECT#000000000404", add={"n": 1}, on_fail=NotFound("no project"))

    with pytest.raises(NotFound):
        get_store().commit("alice", failing)
    on_table_change({"Records": stream.drain()}, None)
    assert Queue("host.alpha", connection=redis.Redis.from_url(redis_queue)).count == 0


def test_redis_down_fails_the_batch_so_it_is_retried(
    stream: StreamReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app import on_table_change
    from chalicelib.config import reset_settings

    monkeypatch.setenv("BORGOS_REDIS_URL", "redis://127.0.0.1:1/0")
    reset_settings()
    jobs.redis_connection.cache_clear()
    get_store().commit("alice", _request)
    with pytest.raises(redis.ConnectionError):
        on_table_change({"Records": stream.drain()}, None)
    jobs.redis_connection.cache_clear()


def test_only_worker_functions_can_be_requested(aws: None) -> None:
    with pytest.raises(ValueError):
        get_store().commit("alice", lambda tx: jobs.request_job(tx, function="os.system", kwargs={}))
