"""MCP for AI clients: `/mcp` (Streamable HTTP, the official SDK, same bearer tokens), the tool list,
tool and natural-language queries, and the LLM budget and costs."""

from __future__ import annotations

from functools import cache
from typing import Any

from chalice import Response
from chalice.app import Request

from chalicelib import audit, llm_usage, mcp_query
from chalicelib.api.routing import (
    Req,
    Router,
    _authenticate_and_limit,
    error_response,
    new_request_id,
    request_id_var,
)
from chalicelib.errors import ApiError, PayloadTooLarge
from chalicelib.llm.budget import BudgetSettings, CostsToday
from chalicelib.logs import logger
from chalicelib.mcp.asgi_bridge import HttpRequest
from chalicelib.mcp.registry import ToolContext
from chalicelib.mcp.server import MAX_REQUEST_BODY_BYTES, McpEndpoint
from chalicelib.mcp.tools import registry
from chalicelib.models.mcp import McpQuery, McpQueryReply, McpTools

api = Router(__name__, tag="mcp")


@cache
def endpoint() -> McpEndpoint:
    return McpEndpoint(registry(), name="borgos")


def _context(req: Req) -> ToolContext:
    p = req.principal
    return ToolContext(p.tenant, p.scopes, req.request_id, p.token_id, p)


@api.raw("/mcp", ["POST", "GET", "DELETE"])
def mcp_route(request: Request, params: dict[str, str]) -> Response:
    """The MCP endpoint: authenticate like every route, then let the SDK answer (stateless)."""
    request_id = request_id_var.get() or new_request_id(request.context)
    headers = {k.lower(): v for k, v in (request.headers or {}).items()}
    try:
        principal, limit_headers = _authenticate_and_limit(headers, request.context or {})
    except ApiError as error:
        return error_response(error, request_id)
    raw = request.raw_body or b""
    body = raw if isinstance(raw, bytes) else raw.encode()
    if len(body) > MAX_REQUEST_BODY_BYTES:
        return error_response(PayloadTooLarge("Request body is larger than 1 MiB"), request_id, limit_headers)
    ctx = ToolContext(principal.tenant, principal.scopes, request_id, principal.token_id, principal)
    try:
        answer = endpoint().handle(HttpRequest(request.method, "/mcp", list(headers.items()), body), ctx)
    except Exception:
        logger.exception("MCP request failed")
        from chalicelib.errors import InternalError

        return error_response(InternalError(), request_id, limit_headers)
    out_headers = {name: value for name, value in answer.headers if name.lower() != "content-length"}
    return Response(
        body=answer.body.decode("utf-8", errors="replace"),
        status_code=answer.status,
        headers={**out_headers, **limit_headers, "X-Request-Id": request_id},
    )


@api.route("/api/v1/mcp/tools", summary="The MCP tools (reference shape)", response=McpTools)
def list_tools(req: Req) -> dict[str, list[dict[str, Any]]]:
    return registry().list_for_reference()


@api.route(
    "/api/v1/mcp/query",
    "POST",
    summary="Run a tool, or ask the configured LLM (which may call tools)",
    body=McpQuery,
    response=McpQueryReply,
)
def query(req: Req) -> dict[str, Any]:
    body: McpQuery = req.body
    ctx = _context(req)
    if body.tool is not None:
        return mcp_query.run_tool(ctx, body.tool, body.arguments)
    assert body.query is not None  # the model guarantees a question when there is no tool
    return mcp_query.ask(ctx, body.query, body.context)


@api.route(
    "/api/v1/settings/budget", summary="LLM budget limits and alert thresholds", response=BudgetSettings
)
def get_budget(req: Req) -> BudgetSettings:
    return llm_usage.get_budget(req.tenant)


@api.route(
    "/api/v1/settings/budget",
    "PUT",
    scope="admin",
    summary="Set the LLM budget",
    body=BudgetSettings,
    response=BudgetSettings,
)
def put_budget(req: Req) -> BudgetSettings:
    return llm_usage.put_budget(
        req.tenant, req.body, audit.actor_of(req.principal), token_id=req.principal.token_id
    )


@api.route("/api/v1/costs/today", summary="Today's LLM cost breakdown (UTC)", response=CostsToday)
def costs_today(req: Req) -> CostsToday:
    return llm_usage.costs(req.tenant)
