"""Two real `python -m workers.host` processes against a private Redis and a moto server: they
register, heartbeat, serve their own queues and the shared one, run periodic jobs, and stop cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest
import redis
from rq import Queue
from rq.job import Job
from rq.registry import FinishedJobRegistry

from chalicelib import hosts
from chalicelib.store import keys
from chalicelib.store.table import get_store
from tests.support.local_services import free_port

TENANT = "acme"
TABLE = "borgos-hosts-test"


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def dynamodb_server() -> Iterator[str]:
    import boto3
    from moto.server import ThreadedMotoServer

    from infra.local import moto_patches
    from infra.table import create_table

    moto_patches.apply()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    create_table(boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1"), TABLE)
    yield endpoint
    server.stop()


@pytest.fixture
def stack(dynamodb_server: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    from chalicelib import aws as aws_clients
    from chalicelib.config import reset_settings
    from chalicelib.store.table import reset_store

    env = {"BORGOS_DYNAMODB_ENDPOINT": dynamodb_server, "BORGOS_TABLE": TABLE, "BORGOS_REDIS_URL": redis_url}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    redis.Redis.from_url(redis_url).flushdb()
    reset_settings()
    aws_clients.reset_clients()
    reset_store()
    yield env
    reset_store()
    aws_clients.reset_clients()
    reset_settings()


def start_host(name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "workers.host",
        "--name",
        name,
        "--tenant",
        TENANT,
        "--workers",
        "1",
        "--heartbeat-interval",
        "0.5",
        "--grace",
        "5",
        "--no-default-periodic",
        "--periodic",
        "workers.host_jobs.ping:1",
    ]
    return subprocess.Popen(command, env={**os.environ, **env, "POWERTOOLS_LOG_LEVEL": "WARNING"})


def heartbeat_of(name: str) -> Callable[[], bool]:
    return lambda: any(item["name"] == name and item.get("metrics") for item in hosts.all_items(TENANT))


def run_on(queue: str, connection: redis.Redis) -> dict[str, Any]:
    job = Queue(queue, connection=connection).enqueue("workers.host_jobs.ping")
    wait_for(f"job on {queue}", lambda: job.get_status(refresh=True) == "finished", timeout=30)
    result = job.return_value()
    assert isinstance(result, dict)
    return result


def test_two_hosts_register_heartbeat_serve_their_queues_and_stop_cleanly(stack: dict[str, str]) -> None:
    connection = redis.Redis.from_url(stack["BORGOS_REDIS_URL"])
    processes = {name: start_host(name, stack) for name in ("alpha", "beta")}
    try:
        for name in processes:
            wait_for(f"{name} heartbeat", heartbeat_of(name))
        alpha = hosts.get_host(TENANT, "alpha")
        assert alpha.status == "online" and alpha.cpu_count == psutil.cpu_count()
        assert alpha.memory_bytes == psutil.virtual_memory().total
        assert alpha.metrics is not None
        redis_port = int(stack["BORGOS_REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
        assert redis_port in alpha.metrics.listening_ports
        assert set(alpha.metrics.queue_depth) == {
            "host.alpha",
            "agents-high",
            "default",
            "agents",
            "agents-low",
        }

        assert run_on("host.alpha", connection)["host"] == "alpha"
        assert run_on("host.beta", connection)["host"] == "beta"
        assert run_on("host.alpha", connection)["tenant"] == TENANT
        assert run_on("default", connection)["host"] in {"alpha", "beta"}

        periodic = wait_for(
            "a periodic ping on alpha",
            lambda: [
                job_id
                for job_id in FinishedJobRegistry("host.alpha", connection=connection).get_job_ids()
                if job_id.startswith("periodic-alpha-ping")
            ],
        )
        ping = Job.fetch(periodic[0], connection=connection).return_value()
        assert isinstance(ping, dict) and ping["asked_host"] == "alpha"

        children = psutil.Process(processes["alpha"].pid).children(recursive=True)
        assert children, "alpha runs RQ worker processes"
        processes["alpha"].send_signal(signal.SIGTERM)
        assert processes["alpha"].wait(timeout=20) == 0
        _gone, alive = psutil.wait_procs(children, timeout=10)
        assert alive == []
        assert hosts.get_host(TENANT, "alpha").status == "offline"
        assert hosts.get_host(TENANT, "beta").status == "online"
        events = get_store().query_page(pk=keys.tenant_pk(TENANT), sk_prefix="EVENT#", limit=100).items
        transitions = [(e["data"]["name"], e["data"]["status"]) for e in events if e["type"] == "host_status"]
        assert sorted(transitions) == [("alpha", "offline"), ("alpha", "online"), ("beta", "online")]
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
