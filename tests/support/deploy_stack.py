"""A small real stack for deployment tests: DynamoDB on a moto server (so worker processes reach it),
a stream pump feeding the stream handler (the job outbox -> RQ), a real `rq worker` process on a
host queue, and the Chalice app called in process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalice.test import Client

from tests.support.local_services import free_port

ROOT = Path(__file__).resolve().parents[2]
TABLE = "borgos-deploy-test"


def _reset() -> None:
    from chalicelib import aws, jobs
    from chalicelib.config import reset_settings
    from chalicelib.store.table import reset_store

    reset_settings()
    aws.reset_clients()
    reset_store()
    jobs.redis_connection.cache_clear()


class StreamPump:
    """Plays Lambda's part with the local stack's pump (infra/local/pump.py): reads the table's stream
    and hands each batch to the stream handler, polling every POLL_INTERVAL seconds."""

    # Lambda polls a shard about 4 times a second; 20 is already kind to the deploy path's latency.
    POLL_INTERVAL = 0.05

    def __init__(self, workdir: Path) -> None:
        from chalicelib import aws
        from chalicelib.config import get_settings
        from infra.local.pump import PositionFile
        from infra.local.pump import StreamPump as LocalPump

        # Called with every batch after the handler: lets a caller await a change instead of polling.
        self.listeners: list[Callable[[list[dict[str, Any]]], None]] = []
        self._pump = LocalPump(
            dynamodb=aws.client("dynamodb"),
            streams=aws.client("dynamodbstreams"),
            table=get_settings().table_name,
            deliver=self._deliver,
            positions=PositionFile(workdir / "pump.json"),
        )
        self._pump.attach()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._pump.run,
            args=(self._stop,),
            kwargs={"poll_interval": self.POLL_INTERVAL},
            name="stream-pump",
            daemon=True,
        )
        self._thread.start()

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        from chalicelib import stream

        stream.handle_records(records)
        for listener in list(self.listeners):
            listener(records)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@dataclass
class Worker:
    """One `rq worker` process listening on a host's queue."""

    queues: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rq.cli",
                "worker",
                "--url",
                self.env["BORGOS_REDIS_URL"],
                "--worker-class",
                "rq.worker.SimpleWorker",
                *self.queues,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class DeployStack:
    client: Client
    token: str
    tenant: str
    host: str
    env: dict[str, str]
    worker: Worker
    pump: StreamPump
    helper: Worker  # a second worker on the same queue (a host runs several): cancel runs beside a rollout
    extra: dict[str, Any] = field(default_factory=dict)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}

    def get(self, path: str) -> Any:
        return self.client.http.get(path, headers=self._headers())

    def post(self, path: str, payload: Any = None) -> Any:
        import json

        text = "" if payload is None else json.dumps(payload)
        return self.client.http.post(path, body=text.encode(), headers=self._headers())

    def delete(self, path: str) -> Any:
        return self.client.http.delete(path, headers=self._headers())

    def wait_for(
        self, deployment_id: int, done: Callable[[dict[str, Any]], bool], timeout: float = 90
    ) -> dict[str, Any]:
        """Poll the deployment until `done` holds (the worker is another process)."""
        import json

        deadline = time.monotonic() + timeout
        while True:
            current = json.loads(self.get(f"/api/v1/deployments/{deployment_id}").body)
            if done(current):
                return current
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"deployment {deployment_id} never got there: {current}\n{self.worker_log()}"
                )
            time.sleep(0.1)

    def worker_log(self) -> str:
        return "\n".join(
            w.log.read_text(errors="replace")[-3000:] for w in (self.worker, self.helper) if w.log.exists()
        )


@contextmanager
def deploy_stack(redis_url: str, tenant: str, host: str, workdir: Path) -> Iterator[DeployStack]:
    import logging

    from moto.server import ThreadedMotoServer

    from infra.local import moto_patches
    from infra.table import create_table

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    moto_patches.apply()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "BORGOS_DYNAMODB_ENDPOINT": f"http://127.0.0.1:{port}",
        "BORGOS_TABLE": TABLE,
        "BORGOS_REDIS_URL": redis_url,
        "BORGOS_DEPLOY_HEALTH_TIMEOUT": "8",
        "BORGOS_DEPLOY_HOST": host,
        # The tests poll the API while the worker runs.
        "BORGOS_RATE_LIMIT_PER_MINUTE": "100000",
        "BORGOS_RATE_LIMIT_BURST": "100000",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    _reset()
    worker_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    worker = Worker([f"host.{host}"], worker_env, workdir / "worker.log")
    helper = Worker([f"host.{host}"], worker_env, workdir / "helper.log")
    pump = None
    try:
        import redis

        from chalicelib import aws, hosts, jobs
        from chalicelib.models.hosts import HostRegistration
        from chalicelib.models.tokens import TokenCreate
        from chalicelib.tokens import issue_token

        redis.Redis.from_url(redis_url).flushdb()
        create_table(aws.client("dynamodb"), TABLE)
        pump = StreamPump(workdir)
        worker.start()
        helper.start()
        hosts.register_host(
            tenant, HostRegistration(name=host, address="127.0.0.1", cpu_count=1, memory_bytes=2**30)
        )
        token = issue_token(tenant, TokenCreate(name="deploy-test", scopes=["read", "write", "deploy"])).token
        from app import app

        with Client(app) as client:
            yield DeployStack(client, token, tenant, host, env, worker, pump, helper)
        jobs.redis_connection.cache_clear()
    finally:
        worker.stop()
        helper.stop()
        if pump is not None:
            pump.stop()
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _reset()
