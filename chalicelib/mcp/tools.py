"""BorgOS's tools for AI agents, over the domain entry points (CORE_API.md contracts). The same
registry serves `/mcp`, `GET /api/v1/mcp/tools`, `POST /api/v1/mcp/query` and the LLM's tool calls.

Scopes: read tools need `read`; changing a project or scanning needs `write`; deploying, stopping
and agent tasks (which run things on hosts) need `deploy`. Every call, refused ones included, is
audited (`mcp.tool_call`). Deployments, scans and search live in modules other parts provide; they
are imported when a tool runs, and a build without them answers `UNAVAILABLE`.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any, Literal

from pydantic import Field

from chalicelib.errors import ApiError
from chalicelib.logs import logger
from chalicelib.mcp.registry import ToolArgs, ToolContext, ToolError, ToolRegistry, ToolSpec
from chalicelib.models.agent_tasks import AgentTaskCreate
from chalicelib.models.errors import Severity
from chalicelib.models.projects import ProjectCreate

DEFAULT_LIMIT = 50


class Unavailable(ToolError):
    code = "UNAVAILABLE"


def translate(exc: Exception) -> ToolError | None:
    """Domain errors keep their code and message (and stay the cause, for the REST status)."""
    if isinstance(exc, ApiError):
        return ToolError(exc.message, code=exc.code, details=exc.details or None)
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").startswith("chalicelib"):
        return Unavailable(f"This BorgOS build does not include {exc.name}")
    return None


class AuditedRegistry(ToolRegistry):
    """Records every call in the audit trail with its (scrubbed) arguments and outcome."""

    def call(self, name: str, args: Any, ctx: ToolContext) -> Any:
        try:
            result = super().call(name, args, ctx)
        except ToolError as exc:
            self._audit(ctx, name, args, exc.to_dict(), "refused" if _is_refusal(exc) else "error")
            raise
        except Exception:
            self._audit(ctx, name, args, {"error": "INTERNAL"}, "error")
            raise
        self._audit(ctx, name, args, result, "ok")
        return result

    @staticmethod
    def _audit(ctx: ToolContext, name: str, args: Any, result: Any, outcome: str) -> None:
        from chalicelib import audit

        actor = getattr(ctx.principal, "subject", None) or f"token:{ctx.token_id}"
        try:
            audit.record(
                ctx.tenant,
                actor,
                "mcp.tool_call",
                {"tool": name, "arguments": args},
                result,
                outcome=outcome,
                token_id=ctx.token_id,
            )
        except Exception:  # the call happened; a lost audit entry is logged, not turned into a failure
            logger.exception("audit record failed", extra={"tool": name, "request_id": ctx.request_id})


def _is_refusal(exc: ToolError) -> bool:
    return exc.code in ("NOT_FOUND", "INSUFFICIENT_SCOPE", "VALIDATION_ERROR")


# Arguments ----------------------------------------------------------------------------------------


class NoArgs(ToolArgs):
    pass


class ListProjectsArgs(ToolArgs):
    active: bool | None = Field(default=None, description="Only active (true) or inactive (false) projects")
    tech_stack: str | None = Field(default=None, min_length=1, max_length=64, description="Projects using it")
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=500)


class ProjectArgs(ToolArgs):
    project_id: int = Field(ge=1, description="The project id")


class CreateProjectArgs(ToolArgs, ProjectCreate):
    pass


class DeployArgs(ToolArgs):
    project_id: int = Field(ge=1, description="The project id")
    port: int = Field(ge=1024, le=65535, description="Host port to publish")
    name: str | None = Field(default=None, min_length=1, max_length=128, description="Deployment name")


class DeploymentArgs(ToolArgs):
    deployment_id: int = Field(ge=1, description="The deployment id")


class ListDeploymentsArgs(ToolArgs):
    project_id: int | None = Field(default=None, ge=1)
    status: str | None = Field(default=None, min_length=1, max_length=32)
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=500)


class DeploymentLogsArgs(ToolArgs):
    deployment_id: int = Field(ge=1, description="The deployment id")
    lines: int = Field(default=100, ge=1, le=5000, description="Last lines to return")


class ListErrorsArgs(ToolArgs):
    project_id: int | None = Field(default=None, ge=1)
    severity: Severity | None = None
    limit: int = Field(default=100, ge=1, le=500)


class SearchCodeArgs(ToolArgs):
    query: str = Field(min_length=1, max_length=500)
    project_id: int | None = Field(default=None, ge=1)
    limit: int = Field(default=10, ge=1, le=100)


class CreateAgentTaskArgs(ToolArgs, AgentTaskCreate):
    pass


class ListAgentTasksArgs(ToolArgs):
    status: Literal["pending", "running", "completed", "failed", "cancelled"] | None = None
    agent_type: str | None = Field(default=None, min_length=1, max_length=64)
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=500)


class AgentTaskArgs(ToolArgs):
    task_id: int = Field(ge=1)


# Handlers -----------------------------------------------------------------------------------------


def _module(name: str) -> Any:
    """A domain module another part provides; ModuleNotFoundError (-> UNAVAILABLE) until it lands."""
    return importlib.import_module(f"chalicelib.{name}")


def _list_projects(ctx: ToolContext, args: ListProjectsArgs) -> Any:
    from chalicelib import projects

    items, _, _ = projects.list_projects(
        ctx.tenant, limit=args.limit, active=args.active, tech_stack=args.tech_stack
    )
    return items


def _get_project(ctx: ToolContext, args: ProjectArgs) -> Any:
    from chalicelib import projects

    return projects.get_project(ctx.tenant, args.project_id)


def _create_project(ctx: ToolContext, args: CreateProjectArgs) -> Any:
    from chalicelib import projects

    return projects.create_project(ctx.tenant, ProjectCreate.model_validate(args.model_dump()))


def _scan_project(ctx: ToolContext, args: ProjectArgs) -> Any:
    scans = _module("scans")

    return scans.request_scan(ctx.tenant, args.project_id)


def _deploy_project(ctx: ToolContext, args: DeployArgs) -> Any:
    deployments = _module("deployments")
    fields = args.model_dump(exclude_none=True)
    fields.setdefault("name", f"deployment-{args.port}")  # the reference client's naming
    request = _module("models.deployments").DeployRequest.model_validate(fields)
    return deployments.create_deployment(ctx.tenant, request)


def _stop_deployment(ctx: ToolContext, args: DeploymentArgs) -> Any:
    deployments = _module("deployments")

    return deployments.request_action(ctx.tenant, args.deployment_id, "stop")


def _list_deployments(ctx: ToolContext, args: ListDeploymentsArgs) -> Any:
    deployments = _module("deployments")

    result = deployments.list_deployments(
        ctx.tenant, limit=args.limit, project_id=args.project_id, status=args.status
    )
    return result[0] if isinstance(result, tuple) else result


def _get_deployment_logs(ctx: ToolContext, args: DeploymentLogsArgs) -> Any:
    deployments = _module("deployments")

    logs = deployments.get_logs(ctx.tenant, args.deployment_id)
    view = logs.model_dump(mode="json") if hasattr(logs, "model_dump") else dict(logs)
    for name in ("build_log", "container_log"):
        if isinstance(view.get(name), str):
            view[name] = "\n".join(view[name].splitlines()[-args.lines :])
    return view


def _list_errors(ctx: ToolContext, args: ListErrorsArgs) -> Any:
    from chalicelib import errorlog

    items, _, _ = errorlog.list_errors(
        ctx.tenant, limit=args.limit, severity=args.severity, project_id=args.project_id
    )
    return items


def _search_code(ctx: ToolContext, args: SearchCodeArgs) -> Any:
    search = _module("search")

    return search.search_code(ctx.tenant, args.query, args.project_id, args.limit)


def _actor(ctx: ToolContext) -> str:
    return getattr(ctx.principal, "subject", None) or f"token:{ctx.token_id}"


def _create_agent_task(ctx: ToolContext, args: CreateAgentTaskArgs) -> Any:
    from chalicelib import agent_tasks

    request = AgentTaskCreate.model_validate(args.model_dump())
    return agent_tasks.create_task(ctx.tenant, request, _actor(ctx), token_id=ctx.token_id)


def _list_agent_tasks(ctx: ToolContext, args: ListAgentTasksArgs) -> Any:
    from chalicelib import agent_tasks

    items, _, _ = agent_tasks.list_tasks(
        ctx.tenant, limit=args.limit, status=args.status, agent_type=args.agent_type
    )
    return items


def _get_agent_task(ctx: ToolContext, args: AgentTaskArgs) -> Any:
    from chalicelib import agent_tasks

    return agent_tasks.get_task(ctx.tenant, args.task_id)


TOOLS: tuple[tuple[str, str, type[ToolArgs], str, Any], ...] = (
    ("list_projects", "List all projects in the system", ListProjectsArgs, "read", _list_projects),
    ("get_project", "Get one project with its deployments and scores", ProjectArgs, "read", _get_project),
    (
        "create_project",
        "Register a project (name and path on the host)",
        CreateProjectArgs,
        "write",
        _create_project,
    ),
    ("scan_project", "Scan a project: tech stack, health and errors", ProjectArgs, "write", _scan_project),
    ("deploy_project", "Deploy a project to a specific port", DeployArgs, "deploy", _deploy_project),
    ("stop_deployment", "Stop a running deployment", DeploymentArgs, "deploy", _stop_deployment),
    (
        "list_deployments",
        "List deployments, optionally of one project or status",
        ListDeploymentsArgs,
        "read",
        _list_deployments,
    ),
    (
        "get_deployment_logs",
        "The last log lines of a deployment",
        DeploymentLogsArgs,
        "read",
        _get_deployment_logs,
    ),
    ("list_errors", "List recent errors, newest first", ListErrorsArgs, "read", _list_errors),
    ("search_code", "Search the code of your projects", SearchCodeArgs, "read", _search_code),
    (
        "create_agent_task",
        "Queue an agent task (log-monitor, shell, http-check, agent-zero)",
        CreateAgentTaskArgs,
        "deploy",
        _create_agent_task,
    ),
    ("list_agent_tasks", "List agent tasks, newest first", ListAgentTasksArgs, "read", _list_agent_tasks),
    (
        "get_agent_task",
        "One agent task with its input, output and timings",
        AgentTaskArgs,
        "read",
        _get_agent_task,
    ),
)


def build_registry() -> AuditedRegistry:
    registry = AuditedRegistry(error_translator=translate)
    for name, description, model, scope, handler in TOOLS:
        registry.register(ToolSpec(name, description, model, scope, handler))
    return registry


@cache
def registry() -> AuditedRegistry:
    return build_registry()
