from __future__ import annotations

import argparse

import pytest
import redis
from rq import Queue

from workers import host, periodic
from workers.periodic import Periodic, PeriodicRunner


@pytest.fixture
def connection(redis_url: str) -> redis.Redis:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    return client


def test_due_jobs_go_to_the_host_queue_once_while_pending(connection: redis.Redis) -> None:
    runner = PeriodicRunner(
        "alpha",
        "acme",
        connection,
        [Periodic("workers.host_jobs.ping", 0.001), Periodic("workers.not_merged_yet.run", 1)],
    )
    assert [job.function for job in runner.jobs] == ["workers.host_jobs.ping"]  # missing module skipped
    first = runner.tick()
    assert len(first) == 1 and first[0].startswith("periodic-alpha-ping-")
    queue = Queue("host.alpha", connection=connection)
    assert queue.job_ids == first
    job = queue.fetch_job(first[0])
    assert job is not None and job.kwargs == {"host": "alpha", "tenant": "acme"}
    assert runner.tick() == []  # the previous run has not run yet: no pile-up
    job.delete()
    assert len(runner.tick()) == 1


def test_not_run_at_start_waits_a_period(connection: redis.Redis) -> None:
    runner = PeriodicRunner("alpha", "acme", connection, [Periodic("workers.host_jobs.ping", 60, False)])
    assert runner.tick() == []


def test_register_replaces_by_function() -> None:
    before = list(periodic.PERIODIC)
    try:
        periodic.register_periodic("workers.host_jobs.ping", 5)
        periodic.register_periodic("workers.host_jobs.ping", 7)
        assert [p.every_seconds for p in periodic.PERIODIC if p.function == "workers.host_jobs.ping"] == [7]
        with pytest.raises(ValueError):
            periodic.register_periodic("os.system", 5)
        with pytest.raises(ValueError):
            periodic.register_periodic("workers.x.y", 0)
    finally:
        periodic.PERIODIC[:] = before
    assert any(p.function == "workers.deploy_jobs.reconcile_host" and p.every_seconds == 30 for p in before)


def test_host_cli_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BORGOS_HOST_TENANT", "acme")
    args = host.parse_args(["--name", "alpha", "--periodic", "workers.host_jobs.ping:2.5"])
    assert (args.tenant, args.workers, args.queues) == ("acme", 2, "agents-high,default,agents,agents-low")
    assert args.periodic == [Periodic("workers.host_jobs.ping", 2.5)]
    for bad in (
        ["--name", "Bad Name"],
        ["--name", "a", "--workers", "0"],
        ["--name", "a", "--periodic", "x:1"],
    ):
        with pytest.raises(SystemExit):
            host.parse_args(bad)
    with pytest.raises(argparse.ArgumentTypeError):
        host.parse_periodic("workers.a.b:soon")
