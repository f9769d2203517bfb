from __future__ import annotations

import argparse
import uuid

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
    name = f"alpha{uuid.uuid4().hex[:6]}"  # no worker of another test listens on its queue
    runner = PeriodicRunner(
        name,
        "acme",
        connection,
        [Periodic("workers.host_jobs.ping", 0.0), Periodic("workers.not_merged_yet.run", 1)],
    )
    assert [job.function for job in runner.jobs] == ["workers.host_jobs.ping"]  # missing module skipped
    first = runner.tick()
    assert len(first) == 1 and first[0].startswith(f"periodic-{name}-ping-")
    queue = Queue(f"host.{name}", connection=connection)
    assert queue.job_ids == first
    job = queue.fetch_job(first[0])
    assert job is not None and job.kwargs == {"host": name, "tenant": "acme"}
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


def test_host_registration_retries_until_the_store_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def flaky(tenant: str, registration: object) -> None:
        calls.append(tenant)
        if len(calls) < 3:
            raise RuntimeError("store not up yet")

    monkeypatch.setattr(host.hosts, "register_host", flaky)
    monkeypatch.setattr(host.host_metrics, "registration", lambda name, address: None)
    monkeypatch.setattr(host, "REGISTER_RETRY_SECONDS", 0.01)
    worker_host = host.Host(name="alpha", tenant="acme", redis_url="redis://unused", queues=["host.alpha"])
    assert worker_host._register_until_done() is True
    assert calls == ["acme"] * 3
    stopped = host.Host(name="beta", tenant="acme", redis_url="redis://unused", queues=["host.beta"])
    stopped.stop_event.set()
    assert stopped._register_until_done() is False


def test_every_registered_periodic_job_is_a_function_taking_host_and_tenant() -> None:
    """`available` only finds the module; a misspelt function would fail on every host, every round."""
    import importlib
    import inspect

    assert "workers.scan_jobs.rescan_outdated_indexes" in {p.function for p in periodic.PERIODIC}
    for job in periodic.PERIODIC:
        module, _, name = job.function.rpartition(".")
        function = getattr(importlib.import_module(module), name)
        assert {"host", "tenant"} <= set(inspect.signature(function).parameters), job.function
