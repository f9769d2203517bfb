"""The scheduler tick: called every minute (EventBridge; the local stack's schedule emulation),
it queues every due run of every tenant's tasks and the next attempt of every retrying run, and
fails attempts no worker finished in time.

Due items are found with a Query per due-list shard (GSI2, sort key <= now), never a Scan. The
index is eventually consistent, so each entry is re-read before acting; a task the index shows
late is simply handled by the next tick (runs up to 15 minutes late are never skipped).
Exactly once: each run item is created with a conditional put keyed by (task, scheduled time), in
the same transaction as its job request and event, and the task's new cursor is written with a
condition on the version read. Overlapping or retried ticks lose those conditions and re-read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from chalicelib import clock, scheduler_runs, scheduler_tasks
from chalicelib.config import get_settings
from chalicelib.logs import logger
from chalicelib.scheduling import DueRun, TaskSchedule, as_utc, due_runs
from chalicelib.store import keys
from chalicelib.store.table import Tx, get_store

RUNS_PER_COMMIT = 30  # each run writes 3 items (run, job, event); a transaction takes 100
_MAX_RACES = 5


@dataclass
class TickReport:
    runs: int = 0
    run_updates: int = 0  # retries queued again, lost attempts failed
    failed: int = 0


def tick_now() -> datetime:
    """The tick's "now": the clock, or, for end-to-end tests, the instant in
    BORGOS_SCHEDULER_CLOCK_FILE (RFC 3339) when that setting names a file."""
    path = get_settings().scheduler_clock_file
    if path:
        return clock.parse(Path(path).read_text().strip())
    return clock.now()


def tick(now: datetime | None = None) -> TickReport:
    """Queue everything due at `now`. Raises after handling all entries if any of them failed, so
    the invocation is retried (a retried tick is harmless)."""
    now = as_utc(now or tick_now())
    report = TickReport()
    upto = f"{clock.iso_micro(now)}#\uffff"
    for shard in range(scheduler_runs.DUE_SHARDS):
        entries = get_store().query_until(index=scheduler_runs.DUE_INDEX, pk=f"SCHEDDUE#{shard}", sk_to=upto)
        for entry in entries:
            try:
                if entry.get("entity") == scheduler_tasks.ENTITY:
                    report.runs += dispatch_task(entry["tenant"], int(entry["id"]), now)
                elif entry.get("entity") == scheduler_runs.ENTITY:
                    report.run_updates += scheduler_runs.handle_due(entry["tenant"], entry, now)
            except Exception:
                report.failed += 1
                logger.exception("scheduler tick entry failed", extra={"sk": entry.get("SK")})
    logger.info("scheduler tick", extra={"now": clock.iso(now), **report.__dict__})
    if report.failed:
        raise RuntimeError(f"{report.failed} due item(s) failed; the tick will be retried")
    return report


def dispatch_task(tenant: str, task_id: int, now: datetime) -> int:
    """Queue the task's runs due at `now` and move its cursor; returns the runs queued here."""
    store = get_store()
    pk = keys.tenant_pk(tenant)
    for _ in range(_MAX_RACES):
        task = store.get(pk, scheduler_tasks.task_sk(task_id))
        if not task:
            return 0
        state = TaskSchedule.from_dict(task["schedule"])
        plan = due_runs(state, now)
        if plan.state == state:
            return 0  # an older tick than the one that moved the cursor
        wanted = {scheduler_runs.run_sk(task_id, run.key): run for run in plan.runs}
        # A tick that failed between two chunks left some runs written: skip those.
        existing = {item["SK"] for item in store.batch_get([(pk, sk) for sk in wanted])}
        pending = [run for sk, run in wanted.items() if sk not in existing]
        chunks = [pending[i : i + RUNS_PER_COMMIT] for i in range(0, len(pending), RUNS_PER_COMMIT)] or [[]]
        schedule, remove = scheduler_tasks.schedule_fields(tenant, task["SK"], plan.state)
        move_cursor = {
            "set": {**schedule, "version": int(task["version"]) + 1},
            "remove": [name for name in remove if name in task] or None,
            "if_version": int(task["version"]),
            "on_fail": scheduler_runs.Raced(f"task {task_id} changed meanwhile"),
        }
        try:
            for number, chunk in enumerate(chunks, start=1):
                # The cursor moves with the last chunk: until then a retried tick redoes the plan.
                _commit(tenant, task, chunk, move_cursor if number == len(chunks) else None)
        except scheduler_runs.Raced:
            continue
        if plan.dropped_missed:
            logger.warning(
                "missed runs dropped by the catch-up policy",
                extra={"tenant": tenant, "task_id": task_id, "catch_up": state.catch_up.mode},
            )
        return len(pending)
    raise scheduler_runs.Raced(f"task {task_id} kept changing during the tick")


def _commit(
    tenant: str, task: dict[str, Any], runs: list[DueRun], move_cursor: dict[str, Any] | None
) -> None:
    def build(tx: Tx) -> None:
        for run in runs:
            scheduler_runs.new_run(tx, task, run)
        if move_cursor is not None:
            tx.update(tx.pk, task["SK"], **move_cursor)

    get_store().commit(tenant, build)
