"""The official MCP client (ClientSession over Streamable HTTP) with a bearer token, for tests."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

T = TypeVar("T")


def with_session(
    url: str, token: str, work: Callable[[ClientSession], Awaitable[T]], *, timeout: float = 30
) -> T:
    """Open an initialized session on `url`, run `work` with it, and return what it returns."""

    async def run() -> T:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=timeout) as http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return await work(session)

    return anyio.run(run)


def payload(result: CallToolResult) -> Any:
    """A tool result's JSON body (BorgOS tools answer one text block of JSON)."""
    block = result.content[0]
    assert isinstance(block, TextContent)
    return json.loads(block.text)
