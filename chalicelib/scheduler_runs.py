"""Runs of scheduled tasks in the store: one run item per (task, scheduled time), written with a
conditional put in the same transaction as its job request and its `task_run` event; the worker's
start and finish transitions; retries (indexed as due, re-queued by the tick); history retention.

Key plan (tenant partition `T#<tenant>`):
| run              | SK `SCHEDRUN#<task:012d>#<run key>`   | newest first by scheduled time |
| runs header      | SK `SCHEDRUN#<task:012d>#~`           | `count`: the history's total    |
| due index (GSI2) | GSI2PK `SCHEDDUE#<shard>`, GSI2SK `<due instant>#<tenant>#<SK>` | tasks, retries |
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chalicelib import clock, events, jobs
from chalicelib.config import get_settings
from chalicelib.errors import Conflict
from chalicelib.logs import logger
from chalicelib.scheduling import (
    FINISHED,
    DueRun,
    RetentionPolicy,
    RetryPolicy,
    RunRecord,
    next_retry_at,
    runs_to_prune,
)
from chalicelib.store import keys
from chalicelib.store.table import Tx, get_store

KIND = "SCHEDRUN"
TASK_KIND = "SCHEDTASK"
ENTITY = "scheduler_run"
RUN_FUNCTION = "workers.scheduler_jobs.run_scheduled"
DUE_INDEX = "GSI2"
DUE_SHARDS = 4  # due entries spread over a few index partitions; the tick queries each
DUE_ATTRS = ["GSI2PK", "GSI2SK"]
MAX_OUTPUT_CHARS = 16_000
# A running attempt not finished by then is taken as lost (worker killed, job timed out): the job
# timeout (jobs.request_job's default, 900 s) and a margin.
LOST_AFTER = timedelta(seconds=900 + 120)
_PRUNE_CHUNK = 90  # deletes per transaction (DynamoDB allows 100 items)


class Raced(Conflict):
    """Another tick or worker changed the item first; re-read and decide again."""


def runs_kind(task_id: int) -> str:
    return f"{KIND}#{task_id:012d}"


def runs_prefix(task_id: int) -> str:
    return f"{runs_kind(task_id)}#"


def run_sk(task_id: int, run_key: str) -> str:
    return runs_prefix(task_id) + run_key


def runs_header_sk(task_id: int) -> str:
    return keys.header_sk(runs_kind(task_id), newest_first=True)


def due_index(tenant: str, sk: str, due: datetime) -> dict[str, str]:
    """Index attributes that put an item on the tick's due list at `due`."""
    shard = zlib.crc32(f"{tenant}#{sk}".encode()) % DUE_SHARDS
    return {"GSI2PK": f"SCHEDDUE#{shard}", "GSI2SK": f"{clock.iso_micro(due)}#{tenant}#{sk}"}


def job_id(tenant: str, run_key: str, attempt: int) -> str:
    """One job per run attempt: the same run and attempt always get the same job id."""
    digest = hashlib.sha256(run_key.encode()).hexdigest()[:24]
    return f"{tenant}-sched-{digest}-{attempt}"


def record(item: dict[str, Any]) -> RunRecord:
    return RunRecord.model_validate({name: item.get(name) for name in RunRecord.model_fields})


def view(item: dict[str, Any]) -> dict[str, Any]:
    """A run as events carry it: the API's shape plus the task's name."""
    return {**record(item).model_dump(mode="json"), "task_name": item.get("task_name")}


def _request_job(tx: Tx, tenant: str, task_id: int, run_key: str, attempt: int) -> None:
    jobs.request_job(
        tx,
        function=RUN_FUNCTION,
        kwargs={"tenant": tenant, "task_id": task_id, "run_key": run_key},
        job_id=job_id(tenant, run_key, attempt),
    )


def new_run(tx: Tx, task: dict[str, Any], due: DueRun) -> dict[str, Any]:
    """Add one run to a change: the run item (refused if its key exists), its job and its event."""
    task_id = int(task["id"])
    item: dict[str, Any] = {
        "PK": tx.pk,
        "SK": run_sk(task_id, due.key),
        "entity": ENTITY,
        "tenant": tx.tenant,
        "id": due.key,
        "task_id": str(task_id),
        "task_name": task["name"],
        "trigger": due.trigger,
        "scheduled_at": clock.iso_micro(due.scheduled_at),
        "status": "pending",
        "attempt": 0,
        "created_at": clock.iso(tx.now),
        "version": 1,
    }
    tx.put(item, create_only=True, on_fail=Raced(f"run {due.key} exists"))
    tx.count(runs_kind(task_id), newest_first=True)
    _request_job(tx, tx.tenant, task_id, due.key, 1)
    events.task_run(tx, view(item))
    return item


def get_run(tenant: str, task_id: int, run_key: str) -> dict[str, Any] | None:
    return get_store().get(keys.tenant_pk(tenant), run_sk(task_id, run_key))


def _transition(tenant: str, current: dict[str, Any], changes: dict[str, Any], remove: list[str]) -> dict:
    """Move a run to a new state if nobody else moved it since it was read; emit its event."""
    updated = {**current, **changes, "version": int(current["version"]) + 1}
    for name in remove:
        updated.pop(name, None)

    def build(tx: Tx) -> None:
        tx.update(
            tx.pk,
            current["SK"],
            set={**changes, "version": updated["version"]},
            remove=[name for name in remove if name in current] or None,
            if_version=int(current["version"]),
            on_fail=Raced(f"run {current['id']} changed meanwhile"),
        )
        if changes.get("status") == "pending" and int(current.get("attempt", 0)) > 0:
            _request_job(tx, tenant, int(current["task_id"]), current["id"], int(current["attempt"]) + 1)
        events.task_run(tx, view(updated))

    get_store().commit(tenant, build)
    return updated


def start(tenant: str, run: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A worker begins the next attempt of a queued run. Raises Raced if it is not queued any more."""
    if run.get("status") != "pending":
        raise Raced(f"run {run['id']} is {run.get('status')}, not pending")
    attempt = int(run.get("attempt", 0)) + 1
    changes = {
        "status": "running",
        "attempt": attempt,
        "started_at": clock.iso_micro(now),
        # On the due list as a watchdog: the tick fails the attempt if no worker finished it.
        **due_index(tenant, run["SK"], now + LOST_AFTER),
    }
    return _transition(tenant, run, changes, ["finished_at"])


def cancel(tenant: str, run: dict[str, Any], now: datetime, reason: str) -> dict[str, Any]:
    changes = {"status": "cancelled", "finished_at": clock.iso_micro(now), "error": reason}
    return _transition(tenant, run, changes, DUE_ATTRS)


def finish(
    tenant: str,
    run: dict[str, Any],
    now: datetime,
    retry: RetryPolicy,
    *,
    output: Any = None,
    error: str | None = None,
    rng: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """Record an attempt's outcome: completed, failed, or retrying at a backed-off instant (put on
    the due list, so the tick queues the next attempt then)."""
    attempt = int(run["attempt"])
    if error is None:
        changes = {"status": "completed", "finished_at": clock.iso_micro(now), "output": _bounded(output)}
        return _transition(tenant, run, changes, ["error", "next_retry_at", *DUE_ATTRS])
    retry_at = next_retry_at(attempt, now, retry, rng) if rng else next_retry_at(attempt, now, retry)
    if retry_at is None:
        changes = {"status": "failed", "finished_at": clock.iso_micro(now), "error": error[:MAX_OUTPUT_CHARS]}
        return _transition(tenant, run, changes, ["next_retry_at", *DUE_ATTRS])
    changes = {
        "status": "retrying",
        "error": error[:MAX_OUTPUT_CHARS],
        "next_retry_at": clock.iso_micro(retry_at),
        **due_index(tenant, run["SK"], retry_at),
    }
    return _transition(tenant, run, changes, [])


def handle_due(tenant: str, entry: dict[str, Any], now: datetime) -> bool:
    """Tick: a run on the due list. A retrying run whose backoff is over is queued again; a running
    attempt past LOST_AFTER is failed (retries apply). Versioned: once, whoever else acts."""
    run = get_store().get(keys.tenant_pk(tenant), entry["SK"])
    if not run or "GSI2SK" not in run or run["GSI2SK"].split("#", 1)[0] > clock.iso_micro(now):
        return False
    try:
        if run["status"] == "retrying":
            _transition(tenant, run, {"status": "pending"}, [*DUE_ATTRS, "next_retry_at"])
            return True
        if run["status"] == "running":
            task = get_store().get(keys.tenant_pk(tenant), keys.entity_sk(TASK_KIND, int(run["task_id"])))
            if task is None:
                cancel(tenant, run, now, "the task was deleted")
                return True
            lost = f"no worker finished attempt {run['attempt']} within {int(LOST_AFTER.total_seconds())} s"
            finish(tenant, run, now, RetryPolicy.model_validate(task.get("retry") or {}), error=lost)
            return True
    except Raced:
        return False
    return False


def _bounded(output: Any) -> Any:
    """Keep outputs small enough for an item; a large one is kept as a truncated excerpt."""
    text = json.dumps(output, default=str)
    if len(text) <= MAX_OUTPUT_CHARS:
        return json.loads(text)
    return {"truncated": True, "excerpt": text[:MAX_OUTPUT_CHARS]}


def retention() -> RetentionPolicy:
    settings = get_settings()
    return RetentionPolicy(
        keep_last=settings.scheduler_history_keep, max_age=timedelta(days=settings.scheduler_history_days)
    )


def prune(tenant: str, task_id: int, now: datetime, policy: RetentionPolicy | None = None) -> int:
    """Delete the task's finished runs beyond the retention policy; returns how many went."""
    policy = policy or retention()
    store = get_store()
    page = store.query_page(
        pk=keys.tenant_pk(tenant),
        sk_prefix=runs_prefix(task_id),
        header_sk=runs_header_sk(task_id),
        newest_first=True,
        limit=max(1000, policy.keep_last * 2),
    )
    by_key = {item["id"]: item for item in page.items}
    doomed = [by_key[run.id] for run in runs_to_prune([record(i) for i in page.items], now, policy)]
    for start_at in range(0, len(doomed), _PRUNE_CHUNK):
        chunk = doomed[start_at : start_at + _PRUNE_CHUNK]

        def build(tx: Tx, chunk: list[dict[str, Any]] = chunk) -> None:
            for item in chunk:
                tx.delete(tx.pk, item["SK"], must_exist=False)
            tx.count(runs_kind(task_id), delta=-len(chunk), newest_first=True)

        store.commit(tenant, build)
    if doomed:
        logger.info("run history pruned", extra={"tenant": tenant, "task_id": task_id, "count": len(doomed)})
    return len(doomed)


def delete_history(tenant: str, task_id: int) -> int:
    """Remove every run of a deleted task and its header (in chunks; the task is gone already)."""
    store = get_store()
    pk = keys.tenant_pk(tenant)
    removed = 0
    while True:
        page = store.query_page(pk=pk, sk_prefix=runs_prefix(task_id), limit=_PRUNE_CHUNK)
        if not page.items:
            return removed

        def build(tx: Tx, items: list[dict[str, Any]] = page.items) -> None:
            for item in items:
                tx.delete(tx.pk, item["SK"], must_exist=False)

        store.commit(tenant, build)
        removed += sum(1 for item in page.items if item.get("entity") == ENTITY)


def is_finished(run: dict[str, Any]) -> bool:
    return run.get("status") in FINISHED
