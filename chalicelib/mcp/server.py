"""The MCP server: the tool registry served with the official ``mcp`` SDK over Streamable HTTP in
stateless JSON mode, one request at a time, so a synchronous Chalice route can serve ``/mcp``.

Usage from the route (after it has resolved the bearer token)::

    endpoint = McpEndpoint(registry)                      # once per Lambda container
    response = endpoint.handle(HttpRequest(method, "/mcp", headers, raw_body), tool_context)

Every request builds a fresh stateless session manager (no session ids, nothing kept between
requests), so any Lambda instance can answer any request. The caller's ToolContext travels in the
ASGI scope's ``state``; a tool call without one is refused (fail closed). ``mcp`` is imported
lazily: only requests to ``/mcp`` pay for it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from chalicelib.mcp.asgi_bridge import (
    DEFAULT_TIMEOUT_S,
    AsgiTimeout,
    HttpRequest,
    HttpResponse,
    Receive,
    Scope,
    Send,
    run_asgi,
)
from chalicelib.mcp.registry import ToolContext, ToolError, ToolRegistry, ToolSpec

if TYPE_CHECKING:
    import mcp_types
    from mcp.server.lowlevel import Server

logger = Logger(service="borgos", child=True)

TOOL_CONTEXT_STATE_KEY = "borgos_tool_context"
MAX_REQUEST_BODY_BYTES = 1024 * 1024  # the API's own body limit (conventions: 413 above 1 MiB)


class McpEndpoint:
    def __init__(self, registry: ToolRegistry, *, name: str = "borgos", version: str = "1.0.0") -> None:
        self._registry = registry
        self._name = name
        self._version = version
        self._server: Server[Any] | None = None

    def handle(
        self, request: HttpRequest, ctx: ToolContext, *, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> HttpResponse:
        """Answer one HTTP request to ``/mcp`` for the already authenticated caller ``ctx``."""
        if request.method.upper() == "GET":
            # Stateless: no server-initiated stream to offer. The spec's answer for that is 405.
            return _jsonrpc_error(
                405, "Method Not Allowed: this server offers no SSE stream", ("allow", "POST, DELETE")
            )
        try:
            return run_asgi(self.asgi_app, request, state={TOOL_CONTEXT_STATE_KEY: ctx}, timeout_s=timeout_s)
        except AsgiTimeout:
            logger.warning("MCP request timed out", request_id=ctx.request_id, timeout_s=timeout_s)
            return _jsonrpc_error(504, f"No answer within {timeout_s:g} s; a tool may still complete")

    async def asgi_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point serving one request with a fresh stateless session manager."""
        from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

        manager = StreamableHTTPSessionManager(
            app=self.server,
            json_response=True,
            stateless=True,
            # Host/Origin checks guard servers on localhost against DNS rebinding; this endpoint
            # sits behind API Gateway and bearer tokens, so they stay off (Content-Type is still checked).
            security_settings=None,
            max_request_body_size=MAX_REQUEST_BODY_BYTES,
        )
        async with manager.run():
            await manager.handle_request(scope, receive, send)

    @property
    def server(self) -> Server[Any]:
        if self._server is None:
            self._server = self._build_server()
        return self._server

    def _build_server(self) -> Server[Any]:
        from mcp.server.lowlevel import Server

        return Server(
            self._name,
            version=self._version,
            instructions="BorgOS control plane: projects, deployments, errors, code search and agent tasks.",
            get_tool_input_schema=lambda name: (
                self._registry.json_schema(name) if name in self._registry else None
            ),
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )

    async def _list_tools(self, ctx: Any, params: Any) -> mcp_types.ListToolsResult:
        import mcp_types

        return mcp_types.ListToolsResult(tools=[_to_mcp_tool(spec) for spec in self._registry])

    async def _call_tool(self, ctx: Any, params: mcp_types.CallToolRequestParams) -> mcp_types.CallToolResult:
        import anyio.to_thread

        caller = _tool_context_from(ctx)
        if caller is None:
            return _error_result(
                {"error": "UNAUTHORIZED", "message": "No authenticated caller for this request"}
            )
        try:
            # Handlers are synchronous (boto3): keep them off the event loop, and let the deadline
            # answer the client even while one still runs (it finishes in its thread).
            result = await anyio.to_thread.run_sync(
                self._registry.call, params.name, params.arguments, caller, abandon_on_cancel=True
            )
        except ToolError as exc:
            return _error_result({**exc.to_dict(), "request_id": caller.request_id})
        except Exception:
            logger.exception("MCP tool failed", tool=params.name, request_id=caller.request_id)
            return _error_result(
                {
                    "error": "INTERNAL",
                    "message": "The tool failed; the request id finds the details in the logs",
                    "request_id": caller.request_id,
                }
            )
        return _ok_result(result)


def _jsonrpc_error(status: int, message: str, *headers: tuple[str, str]) -> HttpResponse:
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32000, "message": message}}
    return HttpResponse(status, [("content-type", "application/json"), *headers], json.dumps(body).encode())


def _tool_context_from(ctx: Any) -> ToolContext | None:
    request = getattr(ctx, "request", None)
    scope = getattr(request, "scope", None) or {}
    caller = scope.get("state", {}).get(TOOL_CONTEXT_STATE_KEY)
    return caller if isinstance(caller, ToolContext) else None


def _to_mcp_tool(spec: ToolSpec) -> mcp_types.Tool:
    import mcp_types

    return mcp_types.Tool(
        name=spec.name,
        description=spec.description,
        input_schema=spec.json_schema(),
        annotations=mcp_types.ToolAnnotations(read_only_hint=spec.required_scope == "read"),
    )


def _ok_result(result: Any) -> mcp_types.CallToolResult:
    import mcp_types

    return mcp_types.CallToolResult(
        content=[mcp_types.TextContent(type="text", text=json.dumps(result))],
        structured_content={"result": result},
    )


def _error_result(body: dict[str, Any]) -> mcp_types.CallToolResult:
    import mcp_types

    return mcp_types.CallToolResult(
        content=[mcp_types.TextContent(type="text", text=json.dumps(body))],
        is_error=True,
    )
