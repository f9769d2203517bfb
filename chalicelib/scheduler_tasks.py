"""Scheduled tasks of a tenant: create, read, change, toggle, delete, run now, run history.

The schedule state (chalicelib.scheduling.TaskSchedule) is stored with the task, and the task sits
on the tick's due list (GSI2, see chalicelib.scheduler_runs) at its next scheduled instant, so the
tick finds due tasks with a Query. No HTTP here; storage through the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from chalicelib import clock, scheduler_runs
from chalicelib.errors import NotFound, ValidationFailed
from chalicelib.scheduling import (
    RunRecord,
    SchedulerTask,
    SchedulerTaskCreate,
    SchedulerTaskUpdate,
    TaskSchedule,
    manual_run,
)
from chalicelib.store import keys
from chalicelib.store.table import Page, Tx, get_store

KIND = scheduler_runs.TASK_KIND
ENTITY = "scheduler_task"
_FIELDS = ("name", "cron", "tz", "action", "enabled", "retry", "catch_up")
_MAX_RACES = 5
SECRET_MASK = "whsec_********"


def task_sk(task_id: int) -> str:
    return keys.entity_sk(KIND, task_id)


def public(item: dict[str, Any], *, reveal_secret: bool = False) -> SchedulerTask:
    action = {key: value for key, value in item["action"].items() if value is not None}
    if action.get("secret") and not reveal_secret:
        action["secret"] = SECRET_MASK
    return SchedulerTask.model_validate({**item, "action": action})


def definition(item: dict[str, Any]) -> SchedulerTaskCreate:
    return SchedulerTaskCreate.model_validate({name: item[name] for name in _FIELDS})


def schedule_fields(tenant: str, sk: str, state: TaskSchedule) -> tuple[dict[str, Any], list[str]]:
    """Attributes to set and to remove so the item carries `state` and sits on the due list."""
    due = state.next_due_at()
    fields: dict[str, Any] = {
        "schedule": state.to_dict(),
        "next_run_at": clock.iso(due) if due else None,
    }
    if due is None:
        return fields, list(scheduler_runs.DUE_ATTRS)
    return {**fields, **scheduler_runs.due_index(tenant, sk, due)}, []


def create_task(tenant: str, request: SchedulerTaskCreate) -> SchedulerTask:
    def build(tx: Tx) -> dict[str, Any]:
        task_id = tx.new_id("schedtask")
        sk = task_sk(task_id)
        state = TaskSchedule.new(
            str(task_id), request.cron, request.tz, tx.now, enabled=request.enabled, catch_up=request.catch_up
        )
        fields, _ = schedule_fields(tenant, sk, state)
        now = clock.iso(tx.now)
        item = {
            "PK": tx.pk,
            "SK": sk,
            "entity": ENTITY,
            "tenant": tenant,
            "id": task_id,
            **request.model_dump(mode="json"),
            **fields,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        tx.put(item, create_only=True)
        tx.count(KIND)
        return item

    # The generated webhook secret is shown once, to the creator.
    return public(get_store().commit(tenant, build), reveal_secret=True)


def get_item(tenant: str, task_id: int) -> dict[str, Any]:
    item = get_store().get(keys.tenant_pk(tenant), task_sk(task_id))
    if not item:
        raise NotFound.entity("Scheduled task", task_id)
    return item


def get_task(tenant: str, task_id: int) -> SchedulerTask:
    return public(get_item(tenant, task_id))


def list_tasks(
    tenant: str, *, limit: int, offset: int = 0, cursor: str | None = None
) -> tuple[list[SchedulerTask], Page, int]:
    store = get_store()
    pk = keys.tenant_pk(tenant)
    page = store.query_page(
        pk=pk, sk_prefix=f"{KIND}#", header_sk=keys.header_sk(KIND), limit=limit, offset=offset, cursor=cursor
    )
    return [public(item) for item in page.items], page, page.total()


Mutation = Callable[[dict[str, Any], TaskSchedule, Tx], tuple[dict[str, Any], TaskSchedule]]


def _change(tenant: str, task_id: int, mutate: Mutation) -> dict[str, Any]:
    """Apply a change to the task's fields and schedule state. The tick also writes the task (its
    cursor), so a lost race is retried on a fresh read rather than reported to the user."""
    store = get_store()
    for _ in range(_MAX_RACES):
        current = get_item(tenant, task_id)

        def build(tx: Tx, current: dict[str, Any] = current) -> dict[str, Any]:
            changes, state = mutate(current, TaskSchedule.from_dict(current["schedule"]), tx)
            schedule, remove = schedule_fields(tenant, current["SK"], state)
            assignments = {
                **changes,
                **schedule,
                "updated_at": clock.iso(tx.now),
                "version": int(current["version"]) + 1,
            }
            tx.update(
                tx.pk,
                current["SK"],
                set=assignments,
                remove=[name for name in remove if name in current] or None,
                if_version=int(current["version"]),
                on_fail=scheduler_runs.Raced(f"task {task_id} changed meanwhile"),
            )
            updated = {**current, **assignments}
            for name in remove:
                updated.pop(name, None)
            return updated

        try:
            return store.commit(tenant, build)
        except scheduler_runs.Raced:
            continue
    raise scheduler_runs.Raced(f"Scheduled task {task_id} is changing too often; retry")


def update_task(tenant: str, task_id: int, request: SchedulerTaskUpdate) -> SchedulerTask:
    if not request.model_fields_set:
        raise ValidationFailed.field("body", "name at least one field to change")

    new_secret = [False]

    def mutate(current: dict[str, Any], state: TaskSchedule, tx: Tx) -> tuple[dict[str, Any], TaskSchedule]:
        before = definition(current)
        after = request.apply_to(before)
        # A webhook secret that was sent or generated by this change is shown in its answer.
        new_secret[0] = getattr(after.action, "secret", None) not in (
            None,
            getattr(before.action, "secret", None),
        )
        if request.changes_schedule(before):
            state = state.reschedule(after.cron, after.tz, tx.now)
        if after.catch_up != before.catch_up:
            state = replace(state, catch_up=after.catch_up)
        state = state.set_enabled(after.enabled, tx.now)
        return after.model_dump(mode="json"), state

    updated = _change(tenant, task_id, mutate)
    return public(updated, reveal_secret=new_secret[0])


def toggle_task(tenant: str, task_id: int, enabled: bool) -> SchedulerTask:
    def mutate(current: dict[str, Any], state: TaskSchedule, tx: Tx) -> tuple[dict[str, Any], TaskSchedule]:
        return {"enabled": enabled}, state.set_enabled(enabled, tx.now)

    return public(_change(tenant, task_id, mutate))


def delete_task(tenant: str, task_id: int) -> None:
    current = get_item(tenant, task_id)

    def build(tx: Tx) -> None:
        tx.delete(tx.pk, current["SK"], on_fail=NotFound.entity("Scheduled task", task_id))
        tx.count(KIND, delta=-1)

    get_store().commit(tenant, build)
    # The task is gone (its runs are unreachable); clear its history after it.
    scheduler_runs.delete_history(tenant, task_id)


def run_now(tenant: str, task_id: int, nonce: str) -> RunRecord:
    """Queue a run outside the schedule; it never moves the schedule's cursor."""
    task = get_item(tenant, task_id)

    def build(tx: Tx) -> dict[str, Any]:
        tx.update(
            tx.pk,
            task["SK"],
            set={"last_manual_run_at": clock.iso(tx.now)},
            on_fail=NotFound.entity("Scheduled task", task_id),
        )
        return scheduler_runs.new_run(tx, task, manual_run(str(task_id), tx.now, nonce))

    return scheduler_runs.record(get_store().commit(tenant, build))


def list_runs(
    tenant: str, task_id: int, *, limit: int, offset: int = 0, cursor: str | None = None
) -> tuple[list[RunRecord], Page, int]:
    """The task's runs, newest first (scheduled time, then key); the total comes from the header."""
    get_item(tenant, task_id)
    store = get_store()
    pk = keys.tenant_pk(tenant)
    page = store.query_page(
        pk=pk,
        sk_prefix=scheduler_runs.runs_prefix(task_id),
        header_sk=scheduler_runs.runs_header_sk(task_id),
        newest_first=True,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    return [scheduler_runs.record(item) for item in page.items], page, page.total()
