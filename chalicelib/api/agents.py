"""Agent tasks and the audit trail."""

from __future__ import annotations

from chalicelib import agent_tasks, agent_zero, audit
from chalicelib.api.routing import ListReply, Reply, Req, Router
from chalicelib.models.agent_tasks import (
    AgentTask,
    AgentTaskCreate,
    AgentTaskDetail,
    AgentTaskListQuery,
    AgentZeroExecute,
)
from chalicelib.models.agent_zero import AgentZeroStart, AgentZeroStartReply, AgentZeroStatus
from chalicelib.models.audit import AuditEntry, AuditQuery
from chalicelib.models.common import Message

DEFAULT_PAGE = 50
api = Router(__name__, tag="agents")


@api.route(
    "/api/v1/agent/task",
    "POST",
    scope="deploy",
    summary="Create an agent task (queued for a worker)",
    body=AgentTaskCreate,
    response=Message,
    status=201,
)
def create_task(req: Req) -> Reply:
    reply = agent_tasks.create_task(
        req.tenant, req.body, audit.actor_of(req.principal), token_id=req.principal.token_id
    )
    return Reply(reply, 201, {"Location": f"/api/v1/agent/tasks/{reply['task_id']}"})


@api.route(
    "/api/v1/agent/tasks",
    summary="List agent tasks, newest first",
    query=AgentTaskListQuery,
    response=list[AgentTask],
)
def list_tasks(req: Req) -> ListReply:
    query: AgentTaskListQuery = req.query
    limit = query.limit or DEFAULT_PAGE
    items, page, total = agent_tasks.list_tasks(
        req.tenant,
        limit=limit,
        offset=query.offset or 0,
        cursor=query.cursor,
        status=query.status,
        agent_type=query.agent_type,
    )
    return ListReply.from_page(items, page, total, query, limit)


@api.route("/api/v1/agent/tasks/{id}", summary="Get an agent task", response=AgentTaskDetail)
def get_task(req: Req) -> AgentTaskDetail:
    return agent_tasks.get_task(req.tenant, req.path["id"])


@api.route(
    "/api/v1/agent/tasks/{id}/cancel",
    "POST",
    scope="deploy",
    summary="Cancel an agent task",
    response=Message,
    status=202,
)
def cancel_task(req: Req) -> Reply:
    reply = agent_tasks.cancel_task(
        req.tenant, req.path["id"], audit.actor_of(req.principal), token_id=req.principal.token_id
    )
    return Reply(reply, 202)


@api.route(
    "/api/v1/audit", summary="The audit trail, newest first", query=AuditQuery, response=list[AuditEntry]
)
def list_audit(req: Req) -> ListReply:
    query: AuditQuery = req.query
    limit = query.limit or DEFAULT_PAGE
    items, page, total = audit.list_entries(
        req.tenant,
        limit=limit,
        offset=query.offset or 0,
        cursor=query.cursor,
        action=query.action,
        since=query.since,
    )
    return ListReply.from_page(items, page, total, query, limit)


# Agent Zero ----------------------------------------------------------------------------------------


@api.route("/api/v1/agent-zero/status", summary="Agent Zero instance status", response=AgentZeroStatus)
def agent_zero_status(req: Req) -> AgentZeroStatus:
    return agent_zero.status_view(agent_zero.get_state(req.tenant))


@api.route(
    "/api/v1/agent-zero/start",
    "POST",
    scope="deploy",
    summary="Start Agent Zero on a host (a worker carries it out)",
    body=AgentZeroStart,
    response=AgentZeroStartReply,
    status=202,
)
def agent_zero_start(req: Req) -> Reply:
    status = agent_zero.request_start(
        req.tenant, req.body, audit.actor_of(req.principal), token_id=req.principal.token_id
    )
    return Reply({"success": True, "status": status.model_dump(mode="json")}, 202)


@api.route(
    "/api/v1/agent-zero/stop",
    "POST",
    scope="deploy",
    summary="Stop the Agent Zero instance",
    response=AgentZeroStartReply,
    status=202,
)
def agent_zero_stop(req: Req) -> Reply:
    status = agent_zero.request_stop(
        req.tenant, audit.actor_of(req.principal), token_id=req.principal.token_id
    )
    return Reply({"success": True, "status": status.model_dump(mode="json")}, 202)


@api.route(
    "/api/v1/agent-zero/execute",
    "POST",
    scope="deploy",
    summary="Submit a task to Agent Zero",
    body=AgentZeroExecute,
    response=Message,
    status=201,
)
def agent_zero_execute(req: Req) -> Reply:
    reply = agent_zero.execute(
        req.tenant, req.body, audit.actor_of(req.principal), token_id=req.principal.token_id
    )
    return Reply(reply, 201, {"Location": f"/api/v1/agent/tasks/{reply['task_id']}"})


@api.route("/api/v1/agent-zero/capabilities", summary="What Agent Zero can do (a list of names)")
def agent_zero_capabilities(req: Req) -> list[str]:
    return list(agent_zero.CAPABILITIES)
