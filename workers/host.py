"""A worker host: `python -m workers.host --name NAME`.

It registers the host with BorgOS (under its owner tenant), writes a heartbeat every 15 s, runs N RQ
worker processes on `host.<name>` and the shared queues, enqueues its periodic jobs, and on SIGTERM or
SIGINT marks itself offline and stops its workers (each finishes its current job within the grace
period, then is killed). Several hosts with different names can run on one machine."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from chalicelib import hosts
from chalicelib.errors import NotFound
from chalicelib.jobs import SHARED_QUEUE, host_queue
from chalicelib.logs import logger
from chalicelib.models.hosts import HOST_NAME_PATTERN
from workers import host_metrics
from workers.periodic import PERIODIC, Periodic, PeriodicRunner
from workers.stop_signals import set_on_signals

HEARTBEAT_SECONDS = 15.0
GRACE_SECONDS = 30.0
REGISTER_RETRY_SECONDS = 5.0
RESPAWN_BACKOFF_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Children get SIGTERM if the host process dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class WorkerProcess:
    index: int
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0


@dataclass
class Host:
    name: str
    tenant: str
    redis_url: str
    queues: list[str]
    workers: int = 2
    heartbeat_seconds: float = HEARTBEAT_SECONDS
    grace_seconds: float = GRACE_SECONDS
    address: str | None = None
    periodic: list[Periodic] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    _children: list[WorkerProcess] = field(default_factory=list)

    # lifecycle ------------------------------------------------------------------------------
    def run(self) -> int:
        import redis

        connection = redis.Redis.from_url(self.redis_url)
        if not self._register_until_done():
            return 0  # stopped before the store answered
        self._children = [WorkerProcess(i) for i in range(self.workers)]
        for child in self._children:
            self._spawn(child)
        runner = PeriodicRunner(self.name, self.tenant, connection, list(self.periodic))
        next_beat = time.monotonic() + self.heartbeat_seconds
        logger.info("host started", extra={"host": self.name, "tenant": self.tenant, "queues": self.queues})
        try:
            while not self.stop_event.is_set():
                now = time.monotonic()
                if now >= next_beat:
                    next_beat = now + self.heartbeat_seconds
                    self.heartbeat(connection)
                self._guarded(runner.tick, "periodic jobs")
                self._supervise()
                self.stop_event.wait(min(1.0, max(0.05, next_beat - time.monotonic())))
        finally:
            self.shutdown()
        return 0

    def _register_until_done(self) -> bool:
        """The store may not answer yet (a stack starting up): try again every few seconds."""
        while not self.stop_event.is_set():
            try:
                self.register()
                return True
            except Exception:
                logger.exception("registration failed; retrying", extra={"host": self.name})
                self.stop_event.wait(REGISTER_RETRY_SECONDS)
        return False

    def register(self) -> None:
        hosts.register_host(self.tenant, host_metrics.registration(self.name, self.address))

    def heartbeat(self, connection: Any) -> None:
        def beat() -> None:
            metrics = host_metrics.sample(self.name, connection, self.queues)
            try:
                hosts.record_heartbeat(self.tenant, self.name, metrics)
            except NotFound:
                self.register()  # the item was removed: come back
                hosts.record_heartbeat(self.tenant, self.name, metrics)
            hosts.sweep_offline(self.tenant)

        self._guarded(beat, "heartbeat")

    def shutdown(self) -> None:
        self._guarded(lambda: hosts.mark_offline(self.tenant, self.name), "going offline")
        alive = [c.process for c in self._children if c.process and c.process.poll() is None]
        for process in alive:
            process.send_signal(signal.SIGTERM)  # RQ's warm shutdown: finish the current job
        deadline = time.monotonic() + self.grace_seconds
        for process in alive:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        logger.info("host stopped", extra={"host": self.name})

    # RQ workers -----------------------------------------------------------------------------
    def _spawn(self, child: WorkerProcess) -> None:
        env = {**os.environ, "BORGOS_HOST_NAME": self.name, "BORGOS_HOST_TENANT": self.tenant}
        command = [
            sys.executable,
            "-m",
            "workers.rq_worker",
            "--redis-url",
            self.redis_url,
            "--name",
            f"{self.name}.{child.index}.{uuid.uuid4().hex[:6]}",
            *self.queues,
        ]
        # Own session: a terminal's Ctrl-C reaches the host only, which then stops the workers once
        # (a second signal would make RQ kill the running job at once).
        child.process = subprocess.Popen(
            command, env=env, preexec_fn=_die_with_parent, start_new_session=True
        )

    def _supervise(self) -> None:
        """Restart a worker that died, with backoff (a crash loop must not spin)."""
        now = time.monotonic()
        for child in self._children:
            if child.process is None or child.process.poll() is None:
                continue
            if child.next_start == 0.0:
                delay = RESPAWN_BACKOFF_SECONDS[min(child.restarts, len(RESPAWN_BACKOFF_SECONDS) - 1)]
                child.next_start = now + delay
                logger.warning(
                    "rq worker exited",
                    extra={"host": self.name, "code": child.process.returncode, "restart_in": delay},
                )
            elif now >= child.next_start:
                child.restarts += 1
                child.next_start = 0.0
                self._spawn(child)

    def worker_pids(self) -> list[int]:
        return [c.process.pid for c in self._children if c.process is not None]

    def _guarded(self, action: Any, what: str) -> None:
        try:
            action()
        except Exception:  # one failed round must not end the host
            logger.exception(f"{what} failed", extra={"host": self.name})


def parse_periodic(value: str) -> Periodic:
    function, _, seconds = value.rpartition(":")
    if not function or not function.startswith("workers."):
        raise argparse.ArgumentTypeError("expected workers.module.function:SECONDS")
    try:
        return Periodic(function, float(seconds))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad period in {value!r}") from exc


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m workers.host", description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="host name; its queue is host.<name>")
    parser.add_argument(
        "--tenant",
        default=os.environ.get("BORGOS_HOST_TENANT") or "default",
        help="tenant owning the host (env BORGOS_HOST_TENANT, default 'default')",
    )
    parser.add_argument(
        "--redis-url", default=None, help="Redis of the job queues (default: BORGOS_REDIS_URL)"
    )
    parser.add_argument(
        "--queues",
        # Agent tasks wait on agents-high/agents/agents-low (chalicelib/agent_tasks.py), by priority.
        default=f"agents-high,{SHARED_QUEUE},agents,agents-low",
        help="comma-separated shared queues served after host.<name> (default: %(default)s)",
    )
    parser.add_argument("--workers", type=int, default=2, help="RQ worker processes (default 2)")
    parser.add_argument("--heartbeat-interval", type=float, default=HEARTBEAT_SECONDS)
    parser.add_argument("--grace", type=float, default=GRACE_SECONDS, help="seconds workers get to finish")
    parser.add_argument("--address", default=None, help="address to report (default: primary interface)")
    parser.add_argument(
        "--periodic",
        type=parse_periodic,
        action="append",
        default=[],
        help="extra periodic job workers.module.function:SECONDS (repeatable)",
    )
    parser.add_argument(
        "--no-default-periodic", action="store_true", help="skip the registered periodic jobs"
    )
    args = parser.parse_args(argv)
    if not re.match(HOST_NAME_PATTERN, args.name):
        parser.error("--name: lower-case letters, digits, '.', '_' and '-' (max 63)")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    from chalicelib.config import get_settings

    args = parse_args(argv)
    shared = [q.strip() for q in args.queues.split(",") if q.strip()]
    queues = [host_queue(args.name), *(q for q in shared if q != host_queue(args.name))]
    periodic = ([] if args.no_default_periodic else list(PERIODIC)) + list(args.periodic)
    host = Host(
        name=args.name,
        tenant=args.tenant,
        redis_url=args.redis_url or get_settings().redis_url,
        queues=queues,
        workers=args.workers,
        heartbeat_seconds=args.heartbeat_interval,
        grace_seconds=args.grace,
        address=args.address,
        periodic=periodic,
    )
    set_on_signals(host.stop_event)
    return host.run()


if __name__ == "__main__":
    sys.exit(main())
