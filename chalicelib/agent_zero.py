"""The tenant's Agent Zero instance: its recorded state, start/stop requests (carried out by a worker
on the chosen host, workers/agent_jobs.py), and `execute`, which turns a request into an
`agent-zero` task. The Lambda never talks to Agent Zero itself; workers do, through
workers/agent_zero.py. With no running instance, `execute` is refused (503) rather than queued
for nobody."""

from __future__ import annotations

from typing import Any

from chalicelib import agent_tasks, audit, clock, events, jobs
from chalicelib.errors import ApiError, Conflict, DependencyUnavailable
from chalicelib.models.agent_tasks import AgentTaskCreate, AgentZeroExecute
from chalicelib.models.agent_zero import DEFAULT_PORT, AgentZeroStart, AgentZeroStatus
from chalicelib.store import keys
from chalicelib.store.table import Tx, get_store

SK = "AGENTZERO"
CONTROL_FUNCTION = "workers.agent_jobs.agent_zero_control"
DEFAULT_QUEUE = agent_tasks.QUEUES[1]
CONTROL_TIMEOUT_SECONDS = 600
# What the reference's GET /api/v1/agent-zero/capabilities lists (what Agent Zero itself offers).
CAPABILITIES = [
    "code_execution",
    "web_browsing",
    "file_operations",
    "shell_commands",
    "memory_management",
    "task_scheduling",
    "multi_agent_coordination",
    "knowledge_retrieval",
    "image_analysis",
    "api_integration",
]
ACTIVE_STATES = ("starting", "running", "stopping")


def get_state(tenant: str) -> dict[str, Any] | None:
    return get_store().get(keys.tenant_pk(tenant), SK)


def status_view(state: dict[str, Any] | None) -> AgentZeroStatus:
    if state is None:
        return AgentZeroStatus(running=False, state="not_configured", port=DEFAULT_PORT)
    # The item's `version` counts its changes; Agent Zero's own version is `agent_version`.
    view = {k: v for k, v in state.items() if k != "version"}
    return AgentZeroStatus.model_validate(
        {**view, "running": state["state"] == "running", "version": state.get("agent_version")}
    )


def queue_of(state: dict[str, Any]) -> str:
    return jobs.host_queue(state["host"]) if state.get("host") else DEFAULT_QUEUE


def _ui_url(request: AgentZeroStart) -> str:
    if request.url:
        return request.url.rstrip("/")
    return f"http://{request.host or 'localhost'}:{request.port}"


def _write(
    tx: Tx, current: dict[str, Any] | None, fields: dict[str, Any], *, on_fail: ApiError
) -> dict[str, Any]:
    """Replace the state item under its version (create it when there is none)."""
    version = int(current["version"]) if current else 0
    state = {**(current or {}), **fields, "updated_at": clock.iso(tx.now), "version": version + 1}
    item = {"PK": tx.pk, "SK": SK, "entity": "agent_zero", **state}
    if current is None:
        tx.put(item, create_only=True, on_fail=on_fail)
    else:
        assignments = {k: v for k, v in item.items() if k not in ("PK", "SK")}
        tx.update(tx.pk, SK, set=assignments, if_version=version, on_fail=on_fail)
    events.agent_zero_status(tx, status_view(state).model_dump(mode="json"))
    return state


def request_start(
    tenant: str, request: AgentZeroStart, actor: str, *, token_id: int | None = None
) -> AgentZeroStatus:
    if request.host is not None:
        from chalicelib import hosts

        hosts.get_item(tenant, request.host)  # nobody would carry out a start for an unknown host
    current = get_state(tenant)
    if current is not None and current["state"] in ACTIVE_STATES:
        raise Conflict(f"Agent Zero is already {current['state']}; stop it first", code="AGENT_ZERO_ACTIVE")
    fields = {
        **request.model_dump(),
        "state": "starting",
        "ui_url": _ui_url(request),
        "process_id": None,
        "container_id": None,
        "agent_version": None,
        "error": None,
    }

    def build(tx: Tx) -> dict[str, Any]:
        state = _write(tx, current, fields, on_fail=Conflict("Agent Zero changed meanwhile; retry"))
        jobs.request_job(
            tx,
            function=CONTROL_FUNCTION,
            kwargs={"tenant": tenant, "action": "start", "generation": state["version"]},
            queue=queue_of(state),
            timeout_seconds=CONTROL_TIMEOUT_SECONDS,
        )
        audit.add(
            tx,
            actor=actor,
            action="agent_zero.start",
            arguments=request.model_dump(mode="json"),
            result={"state": "starting"},
            token_id=token_id,
        )
        return state

    return status_view(get_store().commit(tenant, build))


def request_stop(tenant: str, actor: str, *, token_id: int | None = None) -> AgentZeroStatus:
    current = get_state(tenant)
    if current is None or current["state"] in ("stopped", "stopping"):
        raise Conflict("Agent Zero is not running", code="AGENT_ZERO_NOT_RUNNING")

    def build(tx: Tx) -> dict[str, Any]:
        state = _write(
            tx, current, {"state": "stopping"}, on_fail=Conflict("Agent Zero changed meanwhile; retry")
        )
        jobs.request_job(
            tx,
            function=CONTROL_FUNCTION,
            kwargs={"tenant": tenant, "action": "stop", "generation": state["version"]},
            queue=queue_of(state),
            timeout_seconds=CONTROL_TIMEOUT_SECONDS,
        )
        audit.add(
            tx,
            actor=actor,
            action="agent_zero.stop",
            arguments={},
            result={"state": "stopping"},
            token_id=token_id,
        )
        return state

    return status_view(get_store().commit(tenant, build))


def record_state(tenant: str, fields: dict[str, Any]) -> dict[str, Any]:
    """What a worker found (running with pid/container, failed with the reason, stopped)."""
    current = get_state(tenant)
    return get_store().commit(
        tenant, lambda tx: _write(tx, current, fields, on_fail=Conflict("Agent Zero changed meanwhile"))
    )


def execute(
    tenant: str, request: AgentZeroExecute, actor: str, *, token_id: int | None = None
) -> dict[str, Any]:
    """Queue an `agent-zero` task for the running instance: `{"message": "Task submitted", "task_id"}`."""
    state = get_state(tenant)
    if state is None or state["state"] != "running":
        current = "not configured" if state is None else state["state"]
        raise DependencyUnavailable(
            f"Agent Zero is not running ({current}); start it with POST /api/v1/agent-zero/start",
            code="AGENT_ZERO_UNAVAILABLE",
        )
    task = AgentTaskCreate(
        project_id=request.project_id,
        agent_type="agent-zero",
        task_type=request.type,
        description=request.description,
        priority=request.priority,
        input_data={"prompt": request.prompt, **request.context},
        timeout_seconds=request.timeout_seconds,
    )
    return agent_tasks.create_task(
        tenant,
        task,
        actor,
        token_id=token_id,
        queue=queue_of(state),
        message="Task submitted",
        audit_action="agent_zero.execute",
    )
