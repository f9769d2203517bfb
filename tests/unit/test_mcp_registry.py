"""The tool registry: registration rules, the reference listing, scopes, validation, secret scrubbing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, Field

from chalicelib.mcp.registry import (
    InsufficientScope,
    InvalidToolArguments,
    ToolArgs,
    ToolContext,
    ToolError,
    ToolRegistry,
    ToolSpec,
    UnknownTool,
    WithSecrets,
)
from chalicelib.mcp.scrub import MASK


class NoArgs(ToolArgs):
    pass


class DeployArgs(ToolArgs):
    project_id: int = Field(ge=1)
    port: int = Field(ge=1024, le=65535)


class ProjectArgs(ToolArgs):
    project_id: int = Field(ge=1)


class ProjectGone(Exception):
    pass


def ctx(*scopes: str) -> ToolContext:
    return ToolContext(tenant="alice", scopes=frozenset(scopes), request_id="req_1", token_id=7)


@pytest.fixture
def deployments() -> list[tuple[str, int, int]]:
    return []


@pytest.fixture
def registry(deployments: list[tuple[str, int, int]]) -> ToolRegistry:
    def deploy(c: ToolContext, args: BaseModel) -> dict[str, Any]:
        assert isinstance(args, DeployArgs)
        deployments.append((c.tenant, args.project_id, args.port))
        return {"message": f"Deployment created on port {args.port}", "id": 2}

    def get_project(c: ToolContext, args: BaseModel) -> dict[str, Any]:
        assert isinstance(args, ProjectArgs)
        if args.project_id == 99:
            raise ProjectGone(f"Project with id {args.project_id} not found")
        return {
            "id": args.project_id,
            "tenant": c.tenant,
            "created_at": datetime(2024, 1, 15, 10, 30, tzinfo=UTC),
        }

    reg = ToolRegistry(
        error_translator=lambda exc: (
            ToolError(str(exc), code="NOT_FOUND") if isinstance(exc, ProjectGone) else None
        )
    )
    reg.register(
        ToolSpec("list_projects", "List all projects in the system", NoArgs, "read", lambda c, a: [])
    )
    reg.register(
        ToolSpec("deploy_project", "Deploy a project to a specific port", DeployArgs, "deploy", deploy)
    )
    reg.register(ToolSpec("get_project", "Get one project", ProjectArgs, "read", get_project))
    return reg


def test_reference_listing_has_names_descriptions_and_parameter_names(registry: ToolRegistry) -> None:
    assert registry.list_for_reference() == {
        "tools": [
            {"name": "list_projects", "description": "List all projects in the system", "parameters": []},
            {
                "name": "deploy_project",
                "description": "Deploy a project to a specific port",
                "parameters": ["project_id", "port"],
            },
            {"name": "get_project", "description": "Get one project", "parameters": ["project_id"]},
        ]
    }


def test_json_schema_comes_from_the_argument_model(registry: ToolRegistry) -> None:
    schema = registry.json_schema("deploy_project")

    assert schema["type"] == "object"
    assert schema["required"] == ["project_id", "port"]
    assert schema["properties"]["port"]["maximum"] == 65535
    assert schema["additionalProperties"] is False


def test_call_runs_the_handler_with_validated_arguments(
    registry: ToolRegistry, deployments: list[Any]
) -> None:
    result = registry.call("deploy_project", {"project_id": 1, "port": 8090}, ctx("deploy"))

    assert result == {"message": "Deployment created on port 8090", "id": 2}
    assert deployments == [("alice", 1, 8090)]


def test_results_are_made_json_ready(registry: ToolRegistry) -> None:
    result = registry.call("get_project", {"project_id": 3}, ctx("read"))

    assert result == {"id": 3, "tenant": "alice", "created_at": "2024-01-15T10:30:00Z"}


def test_admin_holds_every_scope(registry: ToolRegistry) -> None:
    assert registry.call("deploy_project", {"project_id": 1, "port": 8090}, ctx("admin"))["id"] == 2


def test_missing_scope_is_refused_before_anything_runs(
    registry: ToolRegistry, deployments: list[Any]
) -> None:
    with pytest.raises(InsufficientScope) as caught:
        registry.call("deploy_project", {"project_id": 1, "port": 8090}, ctx("read", "write"))

    assert caught.value.code == "INSUFFICIENT_SCOPE"
    assert "'deploy'" in caught.value.message
    assert deployments == []


def test_scope_is_checked_before_arguments(registry: ToolRegistry) -> None:
    with pytest.raises(InsufficientScope):
        registry.call("deploy_project", {"port": "not a port"}, ctx("read"))


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"project_id": 1}, "port"),
        ({"project_id": 1, "port": 80}, "port"),
        ({"project_id": "one", "port": 8090}, "project_id"),
        ({"project_id": 1, "port": 8090, "image": "evil"}, "image"),
        (["project_id", 1], "arguments"),
    ],
)
def test_invalid_arguments_are_refused_with_details(
    registry: ToolRegistry, deployments: list[Any], args: Any, field: str
) -> None:
    with pytest.raises(InvalidToolArguments) as caught:
        registry.call("deploy_project", args, ctx("deploy"))

    assert caught.value.code == "VALIDATION_ERROR"
    assert field in [detail["field"] for detail in caught.value.details]
    assert deployments == []


def test_missing_arguments_mean_an_empty_object(registry: ToolRegistry) -> None:
    assert registry.call("list_projects", None, ctx("read")) == []


def test_unknown_tool(registry: ToolRegistry) -> None:
    with pytest.raises(UnknownTool) as caught:
        registry.call("drop_database", {}, ctx("admin"))

    assert caught.value.to_dict() == {"error": "NOT_FOUND", "message": "Tool 'drop_database' does not exist"}


def test_domain_errors_are_translated(registry: ToolRegistry) -> None:
    with pytest.raises(ToolError) as caught:
        registry.call("get_project", {"project_id": 99}, ctx("read"))

    assert caught.value.code == "NOT_FOUND"
    assert caught.value.message == "Project with id 99 not found"


def test_untranslated_errors_propagate() -> None:
    def boom(c: ToolContext, a: BaseModel) -> None:
        raise RuntimeError("disk on fire")

    reg = ToolRegistry()
    reg.register(ToolSpec("boom", "Fails", NoArgs, "read", boom))

    with pytest.raises(RuntimeError, match="disk on fire"):
        reg.call("boom", {}, ctx("read"))


def test_allowed_lists_the_tools_a_caller_may_run(registry: ToolRegistry) -> None:
    assert [spec.name for spec in registry.allowed({"read"})] == ["list_projects", "get_project"]
    assert [spec.name for spec in registry.allowed({"deploy"})] == ["deploy_project"]
    assert len(registry.allowed({"admin"})) == len(registry) == 3


@pytest.mark.parametrize(
    ("name", "scope", "model", "problem"),
    [
        ("list projects", "read", NoArgs, ValueError),
        ("x" * 65, "read", NoArgs, ValueError),
        ("list_projects", "read", NoArgs, ValueError),  # already registered
        ("new_tool", "superuser", NoArgs, ValueError),
        ("new_tool", "read", dict, TypeError),
    ],
)
def test_bad_registrations_are_refused(
    registry: ToolRegistry, name: str, scope: str, model: Any, problem: type[Exception]
) -> None:
    with pytest.raises(problem):
        registry.register(ToolSpec(name, "d", model, scope, lambda c, a: None))

    assert len(registry) == 3


def test_results_never_carry_secret_values() -> None:
    deployment: dict[str, Any] = {
        "id": 2,
        "name": "my-deployment",
        "environment": {
            "NODE_ENV": "staging",
            "DB_PASSWORD": "pw-123456",
            "STRIPE_SECRET_KEY": "rk_live_abc",
        },
        "webhook": {"url": "https://example.com/hook", "secret": "whsec_abcdef"},
        "issued": {"id": 7, "token": "borg_AbCdEf0123456789xyz"},
        "tokens_used": 125,
    }
    reg = ToolRegistry()
    reg.register(ToolSpec("get_deployment", "Get a deployment", NoArgs, "read", lambda c, a: deployment))

    result = reg.call("get_deployment", {}, ctx("read", "read:sensitive"))

    assert result["environment"] == {"NODE_ENV": "staging", "DB_PASSWORD": MASK, "STRIPE_SECRET_KEY": MASK}
    assert result["webhook"] == {"url": "https://example.com/hook", "secret": MASK}
    assert result["issued"] == {"id": 7, "token": MASK}
    assert result["tokens_used"] == 125
    assert deployment["environment"]["DB_PASSWORD"] == "pw-123456"  # the handler's data is not mutated


def test_known_secret_values_are_masked_inside_text() -> None:
    logs = ["connecting with s3cr3t-value", "ready on :8090"]
    reg = ToolRegistry()
    reg.register(
        ToolSpec(
            "get_deployment_logs",
            "Logs",
            NoArgs,
            "read",
            lambda c, a: WithSecrets(logs, frozenset({"s3cr3t-value"})),
        )
    )

    assert reg.call("get_deployment_logs", {}, ctx("read")) == [f"connecting with {MASK}", "ready on :8090"]
