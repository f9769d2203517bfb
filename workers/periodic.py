"""Periodic jobs of a worker host. Other parts register a job function here (e.g. the deploy part's
reconcile); every host enqueues each due job on its own queue `host.<name>`, so the job runs in the
host's RQ workers next to its deploy jobs. A job still queued or running is not enqueued again.

Contract: a periodic function takes keyword arguments `host` (the host name) and `tenant` (the
host's owner) and must be idempotent."""

from __future__ import annotations

import importlib.util
import re
import time
from dataclasses import dataclass, field
from typing import Any

from chalicelib.jobs import host_queue
from chalicelib.logs import logger


@dataclass(frozen=True)
class Periodic:
    function: str  # dotted path, e.g. "workers.deploy_jobs.reconcile_host"
    every_seconds: float
    run_at_start: bool = True
    timeout_seconds: int = 600


PERIODIC: list[Periodic] = []


def register_periodic(
    function: str, every_seconds: float, *, run_at_start: bool = True, timeout_seconds: int = 600
) -> None:
    """Add (or replace, by function) a periodic job for every host started after this call."""
    if not function.startswith("workers.") or every_seconds <= 0:
        raise ValueError("periodic jobs are functions of the workers package with a positive period")
    PERIODIC[:] = [p for p in PERIODIC if p.function != function]
    PERIODIC.append(Periodic(function, every_seconds, run_at_start, timeout_seconds))


# Reconcile what should run with what the engine runs: every 30 s and at start (issue 3).
register_periodic("workers.deploy_jobs.reconcile_host", 30.0)
# Code indexes in an older layout (search skips them) are rebuilt by a rescan: at start and hourly
# (issue 5; a new host version is a restart, so the hourly round only catches stragglers).
register_periodic("workers.scan_jobs.rescan_outdated_indexes", 3600.0)


def available(function: str) -> bool:
    """The function's module exists in this installation (a part not merged yet is skipped)."""
    module = function.rpartition(".")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


@dataclass
class PeriodicRunner:
    """Enqueues due periodic jobs; `tick()` is called by the host's main loop about once a second."""

    host: str
    tenant: str
    connection: Any
    jobs: list[Periodic]
    _next_due: dict[str, float] = field(default_factory=dict)
    _last_job: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        now = time.monotonic()
        usable = []
        for job in self.jobs:
            if available(job.function):
                usable.append(job)
                self._next_due[job.function] = now if job.run_at_start else now + job.every_seconds
            else:
                logger.warning("periodic job skipped: module not found", extra={"function": job.function})
        self.jobs = usable

    def tick(self) -> list[str]:
        """Enqueue every job that is due and not still pending; returns the enqueued job ids."""
        from rq import Queue

        now = time.monotonic()
        enqueued = []
        for job in self.jobs:
            if now < self._next_due[job.function]:
                continue
            self._next_due[job.function] = now + job.every_seconds
            if self._pending(self._last_job.get(job.function)):
                continue
            slug = re.sub(r"[^A-Za-z0-9_-]", "_", f"{self.host}-{job.function.rpartition('.')[2]}")
            job_id = f"periodic-{slug}-{time.time_ns()}"
            Queue(host_queue(self.host), connection=self.connection).enqueue(
                job.function,
                kwargs={"host": self.host, "tenant": self.tenant},
                job_id=job_id,
                job_timeout=job.timeout_seconds,
                result_ttl=600,
                failure_ttl=86400,
            )
            self._last_job[job.function] = job_id
            enqueued.append(job_id)
        return enqueued

    def _pending(self, job_id: str | None) -> bool:
        from rq.job import Job, JobStatus

        if job_id is None or not Job.exists(job_id, connection=self.connection):
            return False
        status = Job.fetch(job_id, connection=self.connection).get_status(refresh=True)
        return status in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED)


# Agent tasks whose worker went away are settled as failed (issue 6).
register_periodic("workers.agent_jobs.reap_orphans", 60.0)
