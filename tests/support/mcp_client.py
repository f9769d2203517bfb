"""The official MCP client (ClientSession over Streamable HTTP) with a bearer token, and a real
HTTP server to point it at, for tests."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

T = TypeVar("T")
# What serve_mcp's `answer` gets (method, path, headers, body) and gives (status, headers, body).
Answer = Callable[[str, str, list[tuple[str, str]], bytes], tuple[int, list[tuple[str, str]], bytes]]
HOP_BY_HOP = ("content-length", "connection", "transfer-encoding")


@contextlib.contextmanager
def serve_mcp(answer: Answer) -> Iterator[str]:
    """A threaded HTTP server on a free loopback port that hands every request to `answer`;
    yields its `/mcp` URL."""

    class Route(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            status, headers, reply = answer(self.command, self.path, list(self.headers.items()), body)
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Route)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/mcp"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def with_session(
    url: str,
    token: str,
    work: Callable[[ClientSession], Awaitable[T]],
    *,
    timeout: float = 30,
    modern: bool = False,
) -> T:
    """Open a session on `url` (initialized, or with `modern` the 2026-07-28 protocol's discovery:
    no handshake, one POST per request), run `work` with it, and return what it returns."""

    async def run() -> T:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=timeout) as http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            if modern:
                await session.discover()
            else:
                await session.initialize()
            return await work(session)

    return anyio.run(run)


def text_of(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


def payload(result: CallToolResult) -> Any:
    """A tool result's JSON body (BorgOS tools answer one text block of JSON)."""
    return json.loads(text_of(result))
