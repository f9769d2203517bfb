"""The one list of tools that AI agents may call: served over MCP (``/mcp``), listed by
``GET /api/v1/mcp/tools``, run by ``POST /api/v1/mcp/query`` and offered to the LLM for tool calling.

A tool is a pydantic model for its arguments, a required scope and a synchronous handler over the
domain layer. The registry validates arguments, checks scopes and scrubs secrets from every result;
it knows nothing of HTTP, MCP or the store. No ``mcp`` import here: the Lambda imports this module
on every cold start.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import to_jsonable_python

from chalicelib.mcp.scrub import scrub
from chalicelib.models.common import Model

logger = Logger(service="borgos", child=True)

KNOWN_SCOPES = frozenset({"read", "write", "deploy", "admin", "read:sensitive"})
# OpenAI function names and MCP tool names both accept this alphabet.
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class ToolArgs(Model):
    """Base for tool argument models: unknown arguments are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class ToolContext:
    """Who is calling, resolved by the API from the bearer token before any tool runs."""

    tenant: str
    scopes: frozenset[str]
    request_id: str
    token_id: int | str | None = None
    principal: Any = None  # the API's own principal object, passed through untouched for handlers

    def has(self, scope: str) -> bool:
        """Same rule as the API: ``admin`` holds every scope."""
        return "admin" in self.scopes or scope in self.scopes


ToolHandler = Callable[[ToolContext, Any], Any]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_model: type[BaseModel]
    required_scope: str
    handler: ToolHandler

    def json_schema(self) -> dict[str, Any]:
        return self.input_model.model_json_schema()

    def parameters(self) -> list[str]:
        """Argument names as the reference lists them (``["project_id", "port"]``)."""
        return list(self.json_schema().get("properties", {}))


@dataclass(frozen=True)
class WithSecrets:
    """A handler result plus secret values to mask wherever they appear in it (e.g. in log lines)."""

    value: Any
    secrets: frozenset[str] = field(default_factory=frozenset)


class ToolError(Exception):
    """A tool call that did not produce a result, with a stable code for the API and MCP."""

    code = "TOOL_ERROR"

    def __init__(self, message: str, *, code: str | None = None, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or []

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class UnknownTool(ToolError):
    code = "NOT_FOUND"


class InvalidToolArguments(ToolError):
    code = "VALIDATION_ERROR"


class InsufficientScope(ToolError):
    code = "INSUFFICIENT_SCOPE"


# Maps a domain exception raised by a handler to a ToolError (or None to let it propagate).
ErrorTranslator = Callable[[Exception], ToolError | None]


class ToolRegistry:
    def __init__(self, error_translator: ErrorTranslator | None = None) -> None:
        self._tools: dict[str, ToolSpec] = {}
        self._translate = error_translator

    def register(self, spec: ToolSpec) -> ToolSpec:
        if not TOOL_NAME.match(spec.name):
            raise ValueError(f"Tool name {spec.name!r} must match {TOOL_NAME.pattern}")
        if spec.name in self._tools:
            raise ValueError(f"Tool {spec.name!r} is already registered")
        if spec.required_scope not in KNOWN_SCOPES:
            raise ValueError(f"Tool {spec.name!r}: unknown scope {spec.required_scope!r}")
        if not (isinstance(spec.input_model, type) and issubclass(spec.input_model, BaseModel)):
            raise TypeError(f"Tool {spec.name!r}: input_model must be a pydantic model class")
        if spec.json_schema().get("type") != "object":
            raise ValueError(f"Tool {spec.name!r}: arguments must be a JSON object")
        self._tools[spec.name] = spec
        return spec

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def get(self, name: str) -> ToolSpec:
        try:
            return self._tools[name]
        except KeyError:
            raise UnknownTool(f"Tool {name!r} does not exist") from None

    def allowed(self, scopes: Collection[str]) -> list[ToolSpec]:
        """The tools a caller with these scopes may run (what an LLM is offered)."""
        return [spec for spec in self._tools.values() if "admin" in scopes or spec.required_scope in scopes]

    def json_schema(self, name: str) -> dict[str, Any]:
        return self.get(name).json_schema()

    def list_for_reference(self) -> dict[str, list[dict[str, Any]]]:
        """``GET /api/v1/mcp/tools``: ``{"tools": [{"name", "description", "parameters"}]}``."""
        return {
            "tools": [
                {"name": spec.name, "description": spec.description, "parameters": spec.parameters()}
                for spec in self._tools.values()
            ]
        }

    def call(self, name: str, args: Any, ctx: ToolContext) -> Any:
        """Run one tool for ``ctx`` and return its JSON-ready, secret-free result.

        Raises UnknownTool, InsufficientScope (checked before the arguments, so a caller cannot
        probe a tool it may not use), InvalidToolArguments, or what the error translator makes of
        a handler's exception. Untranslated handler exceptions propagate.
        """
        spec = self.get(name)
        if not ctx.has(spec.required_scope):
            raise InsufficientScope(f"Tool {name!r} needs the '{spec.required_scope}' scope")
        parsed = _parse_args(spec, args)
        started, outcome = time.perf_counter(), "error"
        try:
            raw = spec.handler(ctx, parsed)
            outcome = "ok"
        except ToolError:
            raise
        except Exception as exc:
            translated = self._translate(exc) if self._translate else None
            if translated is None:
                raise
            raise translated from exc
        finally:
            logger.info(
                "tool call",
                tool=name,
                tenant=ctx.tenant,
                request_id=ctx.request_id,
                outcome=outcome,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
        secrets: Collection[str] = ()
        if isinstance(raw, WithSecrets):
            raw, secrets = raw.value, raw.secrets
        return scrub(to_jsonable_python(raw), known_secrets=secrets)


def _parse_args(spec: ToolSpec, args: Any) -> BaseModel:
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise InvalidToolArguments(
            f"Arguments for {spec.name!r} must be a JSON object",
            details=[{"field": "arguments", "problem": "must be an object"}],
        )
    try:
        return spec.input_model.model_validate(args)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(part) for part in err["loc"]) or "arguments", "problem": err["msg"]}
            for err in exc.errors()
        ]
        summary = "; ".join(f"{d['field']}: {d['problem']}" for d in details)
        raise InvalidToolArguments(
            f"Invalid arguments for {spec.name!r}: {summary}", details=details
        ) from None
