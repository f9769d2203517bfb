"""`POST /api/v1/mcp/query`: run one tool by name, or answer a natural-language question with the
configured LLM (tool calling over the same registry), within the tenant's LLM budget.

No HTTP here: the route parses and shapes; this module decides and records (usage, alerts, audit).
"""

from __future__ import annotations

from typing import Any

from chalicelib import audit, llm_usage
from chalicelib.errors import (
    ApiError,
    BadRequest,
    DependencyUnavailable,
    Forbidden,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from chalicelib.llm.openai_compat import (
    LLMConfig,
    LLMError,
    LLMNotConfigured,
    LLMProviderError,
    LLMUnavailable,
    OpenAICompatClient,
)
from chalicelib.logs import logger
from chalicelib.mcp.registry import ToolContext, ToolError
from chalicelib.mcp.tools import registry


class UpstreamFailed(ApiError):
    status, title, code = 502, "Bad gateway", "LLM_PROVIDER_ERROR"


def api_error_for(exc: ToolError) -> ApiError:
    """A refused or failed tool call in the REST envelope (a domain error keeps its own status)."""
    if isinstance(exc.__cause__, ApiError):
        return exc.__cause__
    if exc.code == "NOT_FOUND":
        return NotFound(exc.message)
    if exc.code == "INSUFFICIENT_SCOPE":
        return Forbidden(exc.message, code="INSUFFICIENT_SCOPE")
    if exc.code == "VALIDATION_ERROR":
        return ValidationFailed(
            exc.message, details=[{**d, "field": f"arguments.{d['field']}"} for d in exc.details]
        )
    if exc.code == "UNAVAILABLE":
        return DependencyUnavailable(exc.message, code="UNAVAILABLE")
    return BadRequest(exc.message, code=exc.code)


def run_tool(ctx: ToolContext, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The reference's reply shape for a tool query: no model, no tokens."""
    try:
        result = registry().call(name, arguments, ctx)
    except ToolError as exc:
        raise api_error_for(exc) from None
    return {"result": result, "tokens_used": 0, "model": None, "tool": name}


def llm_client(config: LLMConfig) -> OpenAICompatClient:
    """The provider client (tests replace this to replay recorded exchanges)."""
    return OpenAICompatClient(config)


def ask(ctx: ToolContext, query: str, context: dict[str, Any] | None) -> dict[str, Any]:
    """Answer with the LLM: refuses when no provider is configured or the budget is spent; records
    the tokens spent (failed queries included) and raises the budget alerts they cross."""
    config = LLMConfig.from_env()
    if not config.configured:
        raise DependencyUnavailable(
            "No LLM provider is configured (BORGOS_LLM_BASE_URL and BORGOS_LLM_MODEL); "
            'tool queries work without one: {"query_type": "tool", "tool": ..., "arguments": {...}}',
            code="LLM_NOT_CONFIGURED",
        )
    verdict = llm_usage.check(ctx.tenant)
    if not verdict.allowed:
        raise RateLimited(verdict.message, code="BUDGET_EXCEEDED")
    actor = getattr(ctx.principal, "subject", None) or f"token:{ctx.token_id}"
    try:
        answer = llm_client(config).answer(query, registry(), ctx, context=context)
    except LLMError as exc:
        _record(ctx.tenant, exc.model or config.model or "unknown", exc.usage)
        audit.record(
            ctx.tenant,
            actor,
            "mcp.query",
            {"query": query, "context": context},
            {"error": exc.code, "tokens_used": exc.usage.total_tokens},
            outcome="error",
            token_id=ctx.token_id,
        )
        raise _api_error_for_llm(exc) from None
    _record(ctx.tenant, answer.model, answer.usage)
    body = answer.reference_body()
    audit.record(
        ctx.tenant,
        actor,
        "mcp.query",
        {"query": query, "context": context},
        {"tokens_used": answer.tokens_used, "model": answer.model, "steps": answer.steps},
        token_id=ctx.token_id,
    )
    return body


def _record(tenant: str, model: str, usage: Any) -> None:
    try:
        llm_usage.record_usage(
            tenant,
            llm_usage.usage_of(model, usage.prompt_tokens, usage.completion_tokens, usage.total_tokens),
        )
    except Exception:  # the answer exists; losing its accounting is logged loudly, not hidden
        logger.exception("recording LLM usage failed", extra={"tenant": tenant, "model": model})


def _api_error_for_llm(exc: LLMError) -> ApiError:
    if isinstance(exc, LLMNotConfigured):
        return DependencyUnavailable(exc.message, code="LLM_NOT_CONFIGURED")
    if isinstance(exc, LLMUnavailable):
        return DependencyUnavailable(exc.message)
    if isinstance(exc, LLMProviderError) and exc.status_code == 429:
        headers = {"Retry-After": exc.retry_after} if exc.retry_after else None
        return RateLimited(
            "The LLM provider is rate limiting; retry later", code="LLM_RATE_LIMITED", headers=headers
        )
    return UpstreamFailed(exc.message, code=exc.code)
