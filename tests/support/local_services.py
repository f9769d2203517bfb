"""Real local pieces for benchmarks that need to vary them (the integration tests use the shared local
stack): a private redis-server, a moto server (threaded, with BorgOS's moto patches) holding the table,
and N RQ workers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def private_redis(workdir: Path) -> Iterator[str]:
    """A redis-server of its own on a free port, keeping nothing on disk; yields its URL."""
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (make test installs it)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    try:
        while True:  # another process: poll with a deadline
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def moto_table(table: str = "borgos-e2e") -> Iterator[dict[str, str]]:
    """A moto server with the BorgOS table; yields the environment that points the app at it (also
    applied to this process, with settings and clients reset)."""
    from moto.server import ThreadedMotoServer

    from chalicelib import aws
    from chalicelib.config import reset_settings
    from chalicelib.store.table import reset_store
    from infra.local import moto_patches
    from infra.table import create_table

    moto_patches.apply()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "BORGOS_DYNAMODB_ENDPOINT": f"http://127.0.0.1:{port}",
        "BORGOS_TABLE": table,
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    reset_settings()
    aws.reset_clients()
    reset_store()
    try:
        create_table(aws.client("dynamodb"), table)
        yield env
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_settings()
        aws.reset_clients()
        reset_store()
        server.stop()


@contextmanager
def rq_workers(
    count: int, env: dict[str, str], redis_url: str, queue: str = "default"
) -> Iterator[list[Any]]:
    """`count` real worker processes on `queue`, started as a host starts them (`workers.rq_worker`:
    RQ's forking worker with the scheduler and the job modules preloaded)."""
    worker_env = {
        **os.environ,
        **env,
        "BORGOS_REDIS_URL": redis_url,
        "PYTHONPATH": str(ROOT),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "workers.rq_worker",
                "--redis-url",
                redis_url,
                "--name",
                f"bench-{uuid.uuid4().hex[:8]}",
                queue,
            ],
            cwd=ROOT,
            env=worker_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    try:
        _wait_for_workers(redis_url, count)
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_workers(redis_url: str, count: int, timeout: float = 30.0) -> None:
    from redis import Redis
    from rq import Worker

    connection = Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    while len(Worker.all(connection=connection)) < count:  # external processes: poll with a deadline
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} RQ workers did not start")
        time.sleep(0.05)
