"""Run an ASGI application for exactly one HTTP request, synchronously.

Chalice handlers in Lambda are plain functions, while the MCP SDK serves ASGI. This bridge turns one
request (method, path, headers, body) into an ASGI ``http`` scope, runs the app on a fresh event
loop and collects the full response. It suits request/response apps (the MCP server in stateless
JSON mode); a response that never ends (an endless SSE stream) stops at ``timeout_s``.

It must be called from a thread without a running event loop (a Chalice handler is one).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_TIMEOUT_S = 25.0  # below API Gateway's 29 s integration limit


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = ()
    body: bytes = b""
    query_string: str = ""

    def header_items(self) -> list[tuple[str, str]]:
        items = self.headers.items() if isinstance(self.headers, Mapping) else self.headers
        return [(str(name), str(value)) for name, value in items]


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


class AsgiBridgeError(Exception):
    """The app did not produce a complete HTTP response."""


class AsgiTimeout(AsgiBridgeError):
    pass


def run_asgi(
    app: AsgiApp,
    request: HttpRequest,
    *,
    state: Mapping[str, Any] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    scheme: str = "https",
    server: tuple[str, int] = ("localhost", 443),
    client: tuple[str, int] | None = None,
) -> HttpResponse:
    """Serve ``request`` with ``app`` and return its complete response.

    ``state`` becomes the scope's ``state`` (Starlette exposes it as ``request.state``): the way to
    hand per-request values, such as the authenticated caller, to the app without globals.
    Exceptions raised by the app propagate; AsgiTimeout if no complete response within ``timeout_s``.
    """
    import anyio  # deferred: only /mcp pays for the event loop machinery

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method.upper(),
        "scheme": scheme,
        "path": request.path,
        "raw_path": request.path.encode("utf-8"),
        "root_path": "",
        "query_string": request.query_string.encode("latin-1"),
        "headers": [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in request.header_items()
        ],
        "server": server,
        "client": client,
        "state": dict(state or {}),
    }

    async def serve() -> HttpResponse:
        collector = _ResponseCollector(request.body)
        try:
            with anyio.fail_after(timeout_s):
                await app(scope, collector.receive, collector.send)
        except TimeoutError:
            raise AsgiTimeout(f"No complete response within {timeout_s:g} s") from None
        return collector.response()

    return anyio.run(serve)


class _ResponseCollector:
    """The client side of one ASGI exchange: sends the body once, gathers the response."""

    def __init__(self, body: bytes) -> None:
        import anyio

        self._body = body
        self._body_sent = False
        self._done = anyio.Event()
        self._status: int | None = None
        self._headers: list[tuple[str, str]] = []
        self._chunks: list[bytes] = []

    async def receive(self) -> Message:
        if not self._body_sent:
            self._body_sent = True
            return {"type": "http.request", "body": self._body, "more_body": False}
        # Like a client that stays connected until it has the whole response.
        await self._done.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self._status = int(message["status"])
            self._headers = [
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])
            ]
        elif kind == "http.response.body":
            self._chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                self._done.set()

    def response(self) -> HttpResponse:
        if self._status is None or not self._done.is_set():
            raise AsgiBridgeError("The application returned without a complete response")
        return HttpResponse(status=self._status, headers=self._headers, body=b"".join(self._chunks))
