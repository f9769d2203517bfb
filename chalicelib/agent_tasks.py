"""Agent tasks: work an agent does on a worker host (follow logs, run a command in a container,
check a URL, forward a job to Agent Zero). Business rules and state transitions only; the API
(chalicelib/api/agents.py), MCP tools and workers (workers/agent_jobs.py) all go through here.

A task is created `pending` together with its job request (the outbox), so it runs exactly when it
was stored. Workers move it to `running` and then `completed`, `failed` or `cancelled`; every
status change commits with a `task_status` event. Cancelling a pending task cancels it at once; a
running one gets `cancel_requested`, which its worker watches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from chalicelib import audit, clock, events, jobs
from chalicelib.errors import Conflict, NotFound, ValidationFailed
from chalicelib.models.agent_tasks import (
    FINISHED_STATUSES,
    AgentTask,
    AgentTaskCreate,
    AgentTaskDetail,
    AgentZeroInput,
    HttpCheckInput,
    LogMonitorInput,
    ShellInput,
)
from chalicelib.projects import get_item as get_project_item
from chalicelib.store import keys
from chalicelib.store.table import Filter, Page, Tx, get_store

KIND = "TASK"
HEADER = keys.header_sk(KIND, newest_first=True)
RUN_FUNCTION = "workers.agent_jobs.run_task"
# RQ queues by priority; a worker listens on them in this order.
QUEUES = ("agents-high", "agents", "agents-low")
JOB_GRACE_SECONDS = 30  # RQ's hard limit sits above the task's own timeout, which the worker enforces
_MAX_TRANSITION_ATTEMPTS = 5


@dataclass(frozen=True)
class AgentType:
    input_model: type[BaseModel]
    default_timeout: int | None  # None: runs until cancelled
    max_timeout: int
    needs_project: bool = False


AGENT_TYPES: dict[str, AgentType] = {
    "agent-zero": AgentType(AgentZeroInput, 600, 86_400),
    "http-check": AgentType(HttpCheckInput, 30, 600),
    "log-monitor": AgentType(LogMonitorInput, None, 86_400, needs_project=True),
    "shell": AgentType(ShellInput, 60, 3600),
}


def queue_for(priority: int) -> str:
    """1-3 high, 4-7 normal, 8-10 low."""
    if priority <= 3:
        return QUEUES[0]
    return QUEUES[1] if priority <= 7 else QUEUES[2]


def _status_facet(tenant: str, status: str) -> str:
    return keys.tenant_index_pk(tenant, KIND, "status", status)


def _type_facet(tenant: str, agent_type: str) -> str:
    return keys.tenant_index_pk(tenant, KIND, "type", agent_type)


def validate(request: AgentTaskCreate) -> tuple[AgentType, dict[str, Any], int | None]:
    """The agent type, its checked input and the effective timeout; ValidationFailed otherwise."""
    kind = AGENT_TYPES.get(request.agent_type)
    if kind is None:
        known = ", ".join(sorted(AGENT_TYPES))
        raise ValidationFailed.field(
            "agent_type", f"unknown agent type {request.agent_type!r}; known: {known}"
        )
    try:
        parsed = kind.input_model.model_validate(request.input_data)
    except ValidationError as exc:
        details = [
            {
                "field": ".".join(["input_data", *(str(p) for p in err["loc"])]),
                "problem": err["msg"],
            }
            for err in exc.errors(include_url=False)
        ]
        raise ValidationFailed(
            "; ".join(f"{d['field']}: {d['problem']}" for d in details), details=details
        ) from None
    if kind.needs_project and request.project_id is None:
        raise ValidationFailed.field("project_id", f"a {request.agent_type} task needs a project")
    timeout = request.timeout_seconds if request.timeout_seconds is not None else kind.default_timeout
    if timeout is not None and timeout > kind.max_timeout:
        raise ValidationFailed.field(
            "timeout_seconds", f"at most {kind.max_timeout} for {request.agent_type}"
        )
    return kind, parsed.model_dump(mode="json", exclude_unset=False), timeout


def create_task(
    tenant: str,
    request: AgentTaskCreate,
    actor: str,
    *,
    token_id: int | str | None = None,
    queue: str | None = None,
    message: str = "Task created and queued",
    audit_action: str = "agent_task.create",
) -> dict[str, Any]:
    """Store a pending task with its job request and an audit entry, in one transaction.
    Returns the reference's reply: `{"message": "Task created and queued", "task_id": 43}`."""
    _, input_data, timeout = validate(request)
    if request.project_id is not None:
        get_project_item(tenant, request.project_id)  # another tenant's project is simply not found
    if request.host is not None:
        from chalicelib import hosts

        hosts.get_item(tenant, request.host)  # a job for a host that does not exist would wait forever
    chosen_queue = queue or (jobs.host_queue(request.host) if request.host else queue_for(request.priority))

    def build(tx: Tx) -> int:
        task_id = tx.new_id("task")
        now = clock.iso(tx.now)
        sk = keys.entity_sk(KIND, task_id)
        item: dict[str, Any] = {
            "PK": tx.pk,
            "SK": sk,
            "GSI1PK": _status_facet(tenant, "pending"),
            "GSI1SK": sk,
            "GSI2PK": _type_facet(tenant, request.agent_type),
            "GSI2SK": sk,
            "entity": "agent_task",
            "id": task_id,
            "project_id": request.project_id,
            "agent_type": request.agent_type,
            "task_type": request.task_type,
            "description": request.description,
            "priority": request.priority,
            "input_data": input_data,
            "timeout_seconds": timeout,
            "status": "pending",
            "output": None,
            "error": None,
            "cancel_requested": False,
            "actor": actor,
            "queue": chosen_queue,
            "host": request.host,
            "created_at": now,
            "updated_at": now,
            "started_at": None,
            "finished_at": None,
            "version": 1,
        }
        tx.put(item, create_only=True)
        tx.count(KIND, newest_first=True)
        tx.count(KIND, "status_pending", newest_first=True)
        tx.count(KIND, f"type_{request.agent_type}", newest_first=True)
        jobs.request_job(
            tx,
            function=RUN_FUNCTION,
            kwargs={"tenant": tenant, "task_id": task_id},
            queue=chosen_queue,
            job_id=f"{tenant}-task-{task_id}",
            timeout_seconds=-1 if timeout is None else timeout + JOB_GRACE_SECONDS,
        )
        events.task_status(tx, event_view(item))
        audit.add(
            tx,
            actor=actor,
            action=audit_action,
            arguments=request.model_dump(mode="json"),
            result={"task_id": task_id, "queue": chosen_queue},
            token_id=token_id,
        )
        return task_id

    task_id = get_store().commit(tenant, build)
    return {"message": message, "task_id": task_id}


def get_item(tenant: str, task_id: int) -> dict[str, Any]:
    item = get_store().get(keys.tenant_pk(tenant), keys.entity_sk(KIND, task_id))
    if not item:
        raise NotFound.entity("Task", task_id)
    return item


def summary(item: dict[str, Any]) -> AgentTask:
    return AgentTask.model_validate(item)


def detail(item: dict[str, Any]) -> AgentTaskDetail:
    duration = None
    if item.get("started_at"):
        end = clock.parse(item["finished_at"]) if item.get("finished_at") else clock.now()
        duration = round((end - clock.parse(item["started_at"])).total_seconds(), 3)
    return AgentTaskDetail.model_validate({**item, "duration_seconds": duration})


def event_view(item: dict[str, Any]) -> dict[str, Any]:
    """What a `task_status` event carries: the list item plus error and timings (no input)."""
    return {
        **summary(item).model_dump(mode="json"),
        "error": item.get("error"),
        "started_at": item.get("started_at"),
        "finished_at": item.get("finished_at"),
    }


def get_task(tenant: str, task_id: int) -> AgentTaskDetail:
    return detail(get_item(tenant, task_id))


def list_tasks(
    tenant: str,
    *,
    limit: int,
    offset: int = 0,
    cursor: str | None = None,
    status: str | None = None,
    agent_type: str | None = None,
) -> tuple[list[AgentTask], Page, int]:
    """Newest first. A single filter reads its own index; both together filter the type index."""
    store = get_store()
    pk = keys.tenant_pk(tenant)
    common: dict[str, Any] = {
        "sk_prefix": f"{KIND}#",
        "limit": limit,
        "offset": offset,
        "cursor": cursor,
        "newest_first": True,
    }
    header: dict[str, Any] | None = None
    if agent_type is not None:
        where = Filter(equals={"status": status}) if status else None
        facet = _type_facet(tenant, agent_type)
        page = store.query_page(pk=facet, base_pk=pk, index="GSI2", where=where, **common)
        if where:
            total = store.count(pk=facet, index="GSI2", sk_prefix=f"{KIND}#", where=where)
        else:
            header = store.get(pk, HEADER) or {}
            total = int(header.get(f"type_{agent_type}", 0))
    elif status is not None:
        page = store.query_page(pk=_status_facet(tenant, status), base_pk=pk, index="GSI1", **common)
        total = int((store.get(pk, HEADER) or {}).get(f"status_{status}", 0))
    else:
        page = store.query_page(pk=pk, header_sk=HEADER, **common)
        total = page.total()
    return [summary(item) for item in page.items], page, total


# State transitions ---------------------------------------------------------------------------------

Change = Callable[[dict[str, Any]], dict[str, Any] | None]


def _transition(
    tenant: str, task_id: int, change: Change, extra: Callable[[Tx, dict[str, Any]], None] | None = None
) -> dict[str, Any] | None:
    """Apply `change` (current item -> attributes to set, or None for no change) under the item's
    version, re-reading on a concurrent update. Emits `task_status` when the status moves."""
    store = get_store()
    for _ in range(_MAX_TRANSITION_ATTEMPTS):
        current = get_item(tenant, task_id)
        changes = change(current)
        if changes is None:
            return None
        updated = {**current, **changes, "version": current["version"] + 1}

        def build(
            tx: Tx,
            current: dict[str, Any] = current,
            updated: dict[str, Any] = updated,
            changes: dict[str, Any] = changes,
        ) -> None:
            updated["updated_at"] = clock.iso(tx.now)
            assignments = {k: updated[k] for k in (*changes, "updated_at", "version")}
            if updated["status"] != current["status"]:
                assignments["GSI1PK"] = _status_facet(tenant, updated["status"])
                tx.count(KIND, f"status_{current['status']}", -1, newest_first=True)
                tx.count(KIND, f"status_{updated['status']}", 1, newest_first=True)
                events.task_status(tx, event_view(updated))
            tx.update(
                tx.pk,
                current["SK"],
                set=assignments,
                if_version=current["version"],
                on_fail=Conflict(f"Task {task_id} changed meanwhile"),
            )
            if extra is not None:
                extra(tx, updated)

        try:
            store.commit(tenant, build)
        except Conflict:
            continue
        return updated
    raise Conflict(f"Task {task_id} keeps changing; try again")


def cancel_task(
    tenant: str, task_id: int, actor: str, *, token_id: int | str | None = None
) -> dict[str, Any]:
    """Cancel a pending task now; ask a running one to stop. A finished task is a 409."""
    outcome: dict[str, str] = {}

    def change(item: dict[str, Any]) -> dict[str, Any] | None:
        if item["status"] in FINISHED_STATUSES:
            raise Conflict(f"Task {task_id} is already {item['status']}")
        if item["status"] == "pending":
            outcome["message"] = f"Task {task_id} cancelled"
            return {"status": "cancelled", "cancel_requested": True, "finished_at": clock.iso(clock.now())}
        outcome["message"] = f"Cancellation of task {task_id} requested"
        return {"cancel_requested": True}

    def log(tx: Tx, updated: dict[str, Any]) -> None:
        audit.add(
            tx,
            actor=actor,
            action="agent_task.cancel",
            arguments={"task_id": task_id},
            result={"status": updated["status"]},
            token_id=token_id,
        )

    _transition(tenant, task_id, change, log)
    return {"message": outcome["message"], "task_id": task_id}


def start_task(tenant: str, task_id: int) -> dict[str, Any] | None:
    """pending -> running for the worker; None when the task is not pending (cancelled before it
    ran, or a redelivered job whose task already ran)."""
    return _transition(
        tenant,
        task_id,
        lambda item: (
            {"status": "running", "started_at": clock.iso(clock.now())}
            if item["status"] == "pending"
            else None
        ),
    )


def finish_task(
    tenant: str, task_id: int, status: str, *, output: Any = None, error: str | None = None
) -> dict[str, Any] | None:
    """running -> completed | failed | cancelled, with the output and error; None if already finished."""
    if status not in FINISHED_STATUSES:
        raise ValueError(f"{status!r} is not a final status")
    return _transition(
        tenant,
        task_id,
        lambda item: (
            None
            if item["status"] in FINISHED_STATUSES
            else {"status": status, "output": output, "error": error, "finished_at": clock.iso(clock.now())}
        ),
    )


def record_progress(tenant: str, task_id: int, output: Any) -> bool:
    """Store a running task's output so far (no event); False once the task has finished."""
    updated = _transition(
        tenant, task_id, lambda item: None if item["status"] in FINISHED_STATUSES else {"output": output}
    )
    return updated is not None


def cancel_requested(tenant: str, task_id: int) -> bool:
    item = get_store().get(keys.tenant_pk(tenant), keys.entity_sk(KIND, task_id))
    return item is None or bool(item.get("cancel_requested")) or item.get("status") in FINISHED_STATUSES
