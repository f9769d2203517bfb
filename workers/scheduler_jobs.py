"""RQ job of the scheduler: run one queued run of a scheduled task (job id per run and attempt).

Marks the run running (versioned: a duplicate job does nothing), executes the action through
workers.scheduler_actions, records completed/failed/retrying with output or error, emits the
`task_run` events (through chalicelib.scheduler_runs) and prunes the task's history.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib import clock, scheduler_runs, scheduler_tasks
from chalicelib.errors import NotFound
from chalicelib.logs import logger
from chalicelib.scheduling import RetryPolicy
from workers.scheduler_actions import ActionFailed, Context, execute


def run_scheduled(
    tenant: str,
    task_id: int,
    run_key: str,
    *,
    now: Callable[[], datetime] | None = None,
    rng: Callable[[], float] | None = None,
    http: Any = None,
    resolver: Any = None,
) -> dict[str, Any] | None:
    """Returns the run as finally recorded, or None when there was nothing to do. The keyword
    arguments are for tests (RQ passes only the three positional ones)."""
    now = now or clock.now
    log = {"tenant": tenant, "task_id": task_id, "run_key": run_key}
    run = scheduler_runs.get_run(tenant, task_id, run_key)
    if run is None or run.get("status") != "pending":
        logger.info(
            "scheduled run not pending; nothing to do", extra={**log, "status": (run or {}).get("status")}
        )
        return None
    try:
        task = scheduler_tasks.get_item(tenant, task_id)
    except NotFound:
        return scheduler_runs.cancel(tenant, run, now(), "the task was deleted")
    try:
        run = scheduler_runs.start(tenant, run, now())
    except scheduler_runs.Raced:
        logger.info("scheduled run taken by another worker", extra=log)
        return None
    context = Context(tenant=tenant, task=task, run=run, now=now(), http=http)
    if resolver is not None:
        context.resolver = resolver
    output: Any = None
    error: str | None = None
    try:
        output = execute(context)
    except ActionFailed as exc:
        error = str(exc)
    except Exception as exc:  # a bug or an outage in a dependency: the run records it, retries apply
        logger.exception("scheduled action crashed", extra=log)
        error = f"internal error: {type(exc).__name__}"
    retry = RetryPolicy.model_validate(task.get("retry") or {})
    try:
        finished = scheduler_runs.finish(tenant, run, now(), retry, output=output, error=error, rng=rng)
    except scheduler_runs.Raced:  # the tick took this attempt as lost meanwhile
        logger.warning("scheduled run was taken over before it finished", extra=log)
        return None
    logger.info("scheduled run finished", extra={**log, "status": finished["status"]})
    if scheduler_runs.is_finished(finished):
        scheduler_runs.prune(tenant, task_id, now())
    return finished
