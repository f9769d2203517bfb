"""Local emulator of the API Gateway WebSocket API (`chalice local` serves no WebSockets).

A real WebSocket server (the `websockets` package) calls a Chalice app's `@app.on_ws_connect`,
`@app.on_ws_message` and `@app.on_ws_disconnect` handlers with API-Gateway-shaped events, the way
Lambda would: through the wrapped handlers Chalice registers, so middleware and
`app.websocket_api` behave as deployed. Handlers are sync and run in a thread pool.

A second port serves the `@connections` management API (POST/GET/DELETE
`/{stage}/@connections/{id}`) so boto3's `apigatewaymanagementapi` client works unchanged against
`management_url`; an unknown connection answers 410 `GoneException`. The `websockets` server only
parses GET handshakes, hence the separate port.

Chalice's `app.websocket_api.send` builds an https execute-api URL from the first event; the
gateway points it at `management_url` by wrapping `app.websocket_api.session` (see
`configure_chalice_endpoint`), so handlers run unchanged.

Emulated limits and behaviours (API Gateway's documented ones):
- messages over 128 KiB close the connection with 1009; posts over 128 KiB answer 413;
- idle connections (no data either way) close with 1001 after 10 minutes, any connection after 2 hours;
- a `$connect` handler returning non-2xx refuses the upgrade with that status; one that raises
  gives 502 (a Lambda error), one that runs past the integration timeout 504;
- a `Sec-WebSocket-Protocol` header in the `$connect` response selects the subprotocol;
- a `$default` handler that raises makes the client receive `{"message": "Internal server error", ...}`;
- `$disconnect` runs exactly once per opened connection, also at shutdown.
Messages of one connection are handled one after another (API Gateway may run them concurrently).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import contextlib
import http
import importlib
import json
import re
import secrets
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import boto3
from aws_lambda_powertools import Logger
from chalice.app import Chalice
from chalice.local import LambdaContext
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

logger = Logger(service="borgos-ws-gateway")

CONNECT_ROUTE = "$connect"
DEFAULT_ROUTE = "$default"
DISCONNECT_ROUTE = "$disconnect"
API_GATEWAY_MAX_MESSAGE_BYTES = 128 * 1024
_CLOSE_REASONS: dict[int, str] = {
    CloseCode.NO_STATUS_RCVD: "Client-side close frame status not set",
    CloseCode.ABNORMAL_CLOSURE: "Connection closed abnormally",
}


class GatewaySettings(BaseModel):
    """How the emulated API behaves; defaults are API Gateway's limits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: str = Field(default="api", pattern=r"^[A-Za-z0-9_-]{1,128}$")
    api_id: str = Field(default="local", pattern=r"^[A-Za-z0-9-]{1,64}$")
    idle_timeout: float = Field(default=600.0, gt=0)
    max_connection_duration: float = Field(default=7200.0, gt=0)
    max_message_bytes: int = Field(default=API_GATEWAY_MAX_MESSAGE_BYTES, gt=0)
    integration_timeout: float = Field(default=29.0, gt=0)
    handler_workers: int = Field(default=16, ge=1, le=256)


class ConnectionIdentity(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    source_ip: str
    user_agent: str


class ConnectionInfo(BaseModel):
    """GET @connections/{id}, in the JSON shape of the AWS API."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    connected_at: datetime
    identity: ConnectionIdentity
    last_active_at: datetime


@dataclass
class _Connection:
    connection_id: str
    socket: ServerConnection
    source_ip: str
    user_agent: str
    domain_name: str
    connected_at_ms: int
    last_active_ms: int
    last_active_mono: float
    connected_mono: float
    subprotocol: str | None = None

    def info(self) -> ConnectionInfo:
        return ConnectionInfo(
            connected_at=_from_ms(self.connected_at_ms),
            identity=ConnectionIdentity(source_ip=self.source_ip, user_agent=self.user_agent),
            last_active_at=_from_ms(self.last_active_ms),
        )


# -- ids, clocks and events -------------------------------------------------------------------


def _new_id() -> str:
    """An id shaped like API Gateway's (16 base64url characters, e.g. `L0SM9cOFvHcCIhw=`)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(11)).decode("ascii")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _from_ms(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def _request_context(
    conn: _Connection, settings: GatewaySettings, route_key: str, event_type: str
) -> dict[str, Any]:
    now = _now_ms()
    request_id = _new_id()
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": _from_ms(now).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "messageDirection": "IN",
        "stage": settings.stage,
        "connectedAt": conn.connected_at_ms,
        "requestTimeEpoch": now,
        "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
        "requestId": request_id,
        "domainName": conn.domain_name,
        "connectionId": conn.connection_id,
        "apiId": settings.api_id,
    }


def connect_event(conn: _Connection, request: Request, settings: GatewaySettings) -> dict[str, Any]:
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers.raw_items():
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    # What API Gateway adds in front of the integration.
    for name, value in (("X-Forwarded-For", conn.source_ip), ("X-Forwarded-Proto", "http")):
        headers[name] = value
        multi_headers[name] = [value]
    event: dict[str, Any] = {
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "requestContext": _request_context(conn, settings, CONNECT_ROUTE, "CONNECT"),
        "isBase64Encoded": False,
    }
    query = parse_qsl(urlsplit(request.path).query, keep_blank_values=True)
    if query:  # API Gateway leaves both keys out when the URL has no query
        event["queryStringParameters"] = dict(query)
        multi_query: dict[str, list[str]] = {}
        for name, value in query:
            multi_query.setdefault(name, []).append(value)
        event["multiValueQueryStringParameters"] = multi_query
    return event


def message_event(conn: _Connection, message: str | bytes, settings: GatewaySettings) -> dict[str, Any]:
    context = _request_context(conn, settings, DEFAULT_ROUTE, "MESSAGE")
    context["messageId"] = _new_id()
    if isinstance(message, bytes):  # binary frames reach Lambda base64-encoded
        body = base64.b64encode(message).decode("ascii")
        return {"requestContext": context, "body": body, "isBase64Encoded": True}
    return {"requestContext": context, "body": message, "isBase64Encoded": False}


def disconnect_event(conn: _Connection, code: int, reason: str, settings: GatewaySettings) -> dict[str, Any]:
    context = _request_context(conn, settings, DISCONNECT_ROUTE, "DISCONNECT")
    context["disconnectStatusCode"] = code
    context["disconnectReason"] = reason
    headers = {"Host": conn.domain_name, "X-Forwarded-For": conn.source_ip}
    return {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }


def _response_header(result: dict[str, Any], name: str) -> str | None:
    """A header of a Lambda proxy response, whatever its case, single or multi-valued."""
    for key, value in (result.get("headers") or {}).items():
        if key.lower() == name.lower():
            return str(value)
    for key, values in (result.get("multiValueHeaders") or {}).items():
        if key.lower() == name.lower() and values:
            return ", ".join(str(v) for v in values)
    return None


def _last_header(headers: Headers, name: str) -> str:
    values = headers.get_all(name)
    return values[-1] if values else ""


def _closing_frame(ws: ServerConnection) -> tuple[int, str]:
    """The code and reason that ended a connection: the peer's close frame, else ours (1009 is sent
    without waiting for an answer), else 1006."""
    frame = ws.protocol.close_rcvd or ws.protocol.close_sent
    if frame is None:
        return CloseCode.ABNORMAL_CLOSURE, _CLOSE_REASONS[CloseCode.ABNORMAL_CLOSURE]
    return frame.code, frame.reason or _CLOSE_REASONS.get(frame.code, "")


def _http_response(status: int, body: str = "", content_type: str = "text/plain; charset=utf-8") -> Response:
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    payload = (body or reason).encode()
    headers = Headers(
        [("Connection", "close"), ("Content-Length", str(len(payload))), ("Content-Type", content_type)]
    )
    return Response(status, reason, headers, payload)


# -- the gateway -------------------------------------------------------------------------------


class LocalWebSocketGateway:
    """Serves one Chalice app's WebSocket handlers and the `@connections` API.

    `await start(host, port, management_port)`, then clients connect to `ws_url` and management
    clients use `management_url` (`http://host:management_port/{stage}`). `await stop()` closes
    every connection (each gets its `$disconnect`) and both servers.
    """

    def __init__(
        self, app: Chalice, settings: GatewaySettings | None = None, *, configure_app: bool = True
    ) -> None:
        self.app = app
        self.settings = settings or GatewaySettings()
        self._configure_app = configure_app
        self._live: dict[str, _Connection] = {}
        # Connections whose $connect succeeded but whose handshake has not finished yet.
        self._opening: dict[ServerConnection, _Connection] = {}
        self._ws_server: Server | None = None
        self._management: _ManagementServer | None = None
        self._management_thread: threading.Thread | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ws_address: tuple[str, int] = ("", 0)

    @property
    def ws_url(self) -> str:
        host, port = self._ws_address
        return f"ws://{host}:{port}/{self.settings.stage}"

    @property
    def management_url(self) -> str:
        if self._management is None:
            raise RuntimeError("the gateway is not started")
        host, port = self._management.server_address[:2]
        return f"http://{host!s}:{port}/{self.settings.stage}"

    @property
    def connection_ids(self) -> list[str]:
        return list(self._live)

    async def start(self, host: str = "127.0.0.1", port: int = 0, management_port: int = 0) -> None:
        if self._ws_server is not None:
            raise RuntimeError("the gateway is already started")
        self._loop = asyncio.get_running_loop()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.settings.handler_workers, thread_name_prefix="ws-handler"
        )
        self._management = _ManagementServer((host, management_port), self)
        self._management_thread = threading.Thread(
            target=self._management.serve_forever, args=(0.05,), name="ws-management", daemon=True
        )
        self._management_thread.start()
        try:
            self._ws_server = await serve(
                self._serve_connection,
                host,
                port,
                process_request=self._process_request,
                process_response=self._process_response,
                select_subprotocol=self._select_subprotocol,
                compression=None,  # API Gateway negotiates no permessage-deflate
                max_size=self.settings.max_message_bytes,
                ping_interval=None,  # API Gateway sends no pings; idle_timeout reaps dead clients
                open_timeout=self.settings.integration_timeout + 10,
            )
        except BaseException:
            await self._release_resources()
            raise
        self._ws_address = self._ws_server.sockets[0].getsockname()[:2]
        if self._configure_app:
            configure_chalice_endpoint(self.app, self.management_url)
        logger.info("ws gateway started", ws_url=self.ws_url, management_url=self.management_url)

    async def stop(self) -> None:
        if self._ws_server is None:
            return
        server, self._ws_server = self._ws_server, None
        server.close()  # closes open connections with 1001; their handlers run $disconnect
        await server.wait_closed()
        for conn in list(self._opening.values()):  # $connect ran, the handshake never finished
            await self._disconnect(conn, CloseCode.GOING_AWAY, "Going away")
        self._opening.clear()
        await self._release_resources()
        logger.info("ws gateway stopped")

    async def _release_resources(self) -> None:
        """Stop the management server and the handler threads."""
        if self._management is not None:
            await asyncio.to_thread(self._management.shutdown)
            self._management.server_close()
        if self._management_thread is not None:
            await asyncio.to_thread(self._management_thread.join)
        if self._executor is not None:
            await asyncio.to_thread(self._executor.shutdown, True)
            self._executor = None

    # -- the @connections operations (also used by the HTTP management API) --

    async def post_to_connection(self, connection_id: str, data: bytes) -> bool:
        """Send `data` as a text frame (binary if it is not UTF-8); False if the connection is gone."""
        conn = self._live.get(connection_id)
        if conn is None:
            return False
        try:
            message: str | bytes = data.decode("utf-8")
        except UnicodeDecodeError:
            message = data
        try:
            await conn.socket.send(message)
        except ConnectionClosed:
            return False
        self._touch(conn)
        return True

    async def get_connection(self, connection_id: str) -> ConnectionInfo | None:
        conn = self._live.get(connection_id)
        return conn.info() if conn is not None else None

    async def delete_connection(self, connection_id: str) -> bool:
        """Close the socket (its handler then runs $disconnect); False if the connection is gone."""
        conn = self._live.pop(connection_id, None)
        if conn is None:
            return False
        await conn.socket.close(CloseCode.NORMAL_CLOSURE)
        return True

    # -- WebSocket lifecycle --

    async def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        """Run $connect before answering the upgrade: refuse it if the handler says no."""
        if "websocket" not in _last_header(request.headers, "Upgrade").lower():
            return None  # not an upgrade at all: websockets answers 426, API Gateway runs no $connect
        now, now_mono = _now_ms(), time.monotonic()
        host, port = self._ws_address
        conn = _Connection(
            connection_id=_new_id(),
            socket=ws,
            source_ip=str(ws.remote_address[0]),
            user_agent=_last_header(request.headers, "User-Agent"),
            domain_name=_last_header(request.headers, "Host") or f"{host}:{port}",
            connected_at_ms=now,
            last_active_ms=now,
            last_active_mono=now_mono,
            connected_mono=now_mono,
        )
        try:
            result = await self._invoke(CONNECT_ROUTE, connect_event(conn, request, self.settings))
        except TimeoutError:
            logger.warning("$connect handler timed out", connection_id=conn.connection_id)
            return _http_response(504, '{"message": "Endpoint request timed out"}', "application/json")
        except Exception:
            logger.exception("$connect handler failed", connection_id=conn.connection_id)
            return _http_response(502, '{"message": "Internal server error"}', "application/json")
        result = result or {}
        status = int(result.get("statusCode", 200))
        if not 200 <= status < 300:
            logger.info("connection refused by $connect", connection_id=conn.connection_id, status=status)
            body = result.get("body")
            content_type = _response_header(result, "Content-Type") or "text/plain; charset=utf-8"
            return _http_response(status, body if isinstance(body, str) else "", content_type)
        if ws.transport.is_closing():  # the client left while $connect ran
            code = CloseCode.ABNORMAL_CLOSURE
            await self._disconnect(conn, code, _CLOSE_REASONS[code])
            return _http_response(410)
        conn.subprotocol = _response_header(result, "Sec-WebSocket-Protocol")
        self._opening[ws] = conn
        return None

    async def _process_response(self, ws: ServerConnection, request: Request, response: Response) -> None:
        """$connect said yes but the handshake failed anyway (a malformed upgrade): undo the connect."""
        if response.status_code != http.HTTPStatus.SWITCHING_PROTOCOLS:
            conn = self._opening.pop(ws, None)
            if conn is not None:
                await self._disconnect(conn, CloseCode.ABNORMAL_CLOSURE, "Handshake failed")

    def _select_subprotocol(self, ws: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        # API Gateway echoes whatever the $connect response put in Sec-WebSocket-Protocol.
        conn = self._opening.get(ws)
        return Subprotocol(conn.subprotocol) if conn is not None and conn.subprotocol else None

    async def _serve_connection(self, ws: ServerConnection) -> None:
        conn = self._opening.pop(ws)
        self._live[conn.connection_id] = conn
        logger.info("connection opened", connection_id=conn.connection_id, source_ip=conn.source_ip)
        try:
            await self._receive_messages(conn)
        finally:
            self._live.pop(conn.connection_id, None)
            await ws.wait_closed()
            code, reason = _closing_frame(ws)
            await self._disconnect(conn, code, reason)

    async def _receive_messages(self, conn: _Connection) -> None:
        ws = conn.socket
        while True:
            try:
                async with asyncio.timeout(max(0.0, self._deadline(conn) - time.monotonic())):
                    message = await ws.recv()
            except TimeoutError:
                if time.monotonic() < self._deadline(conn):
                    continue  # a post to the client kept it alive meanwhile
                await ws.close(CloseCode.GOING_AWAY, "Going away")
                return
            except ConnectionClosed:
                return
            self._touch(conn)
            await self._handle_message(conn, message)

    def _deadline(self, conn: _Connection) -> float:
        """When the connection gets closed: idle for too long, or open for too long."""
        return min(
            conn.last_active_mono + self.settings.idle_timeout,
            conn.connected_mono + self.settings.max_connection_duration,
        )

    async def _handle_message(self, conn: _Connection, message: str | bytes) -> None:
        event = message_event(conn, message, self.settings)
        context = event["requestContext"]
        if DEFAULT_ROUTE not in self.app.websocket_handlers:
            await self._reply_error(conn, "Forbidden", context["requestId"])
            return
        try:
            await self._invoke(DEFAULT_ROUTE, event)
        except TimeoutError:
            logger.warning("$default handler timed out", connection_id=conn.connection_id)
            await self._reply_error(conn, "Endpoint request timed out", context["requestId"])
        except Exception:
            logger.exception("$default handler failed", connection_id=conn.connection_id)
            await self._reply_error(conn, "Internal server error", context["requestId"])

    async def _reply_error(self, conn: _Connection, text: str, request_id: str) -> None:
        payload = {"message": text, "connectionId": conn.connection_id, "requestId": request_id}
        with contextlib.suppress(ConnectionClosed):
            await conn.socket.send(json.dumps(payload))

    async def _disconnect(self, conn: _Connection, code: int, reason: str) -> None:
        logger.info("connection closed", connection_id=conn.connection_id, code=code)
        try:
            await self._invoke(DISCONNECT_ROUTE, disconnect_event(conn, code, reason, self.settings))
        except Exception:
            logger.exception("$disconnect handler failed", connection_id=conn.connection_id)

    async def _invoke(self, route_key: str, event: dict[str, Any]) -> dict[str, Any] | None:
        """Call the handler Chalice registered for `route_key` as Lambda would, in the thread pool."""
        config = self.app.websocket_handlers.get(route_key)
        if config is None:
            return None
        handler = self.app.handler_map[config.name]
        timeout = self.settings.integration_timeout
        context = LambdaContext(
            function_name=f"{self.app.app_name}-local-{config.name}",
            memory_size=128,
            max_runtime_ms=int(timeout * 1000),
        )
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(self._executor, handler, event, context)
        result = await asyncio.wait_for(call, timeout)
        return result if isinstance(result, dict) else None

    @staticmethod
    def _touch(conn: _Connection) -> None:
        conn.last_active_ms = _now_ms()
        conn.last_active_mono = time.monotonic()

    def call_from_thread(self, coroutine: Any, timeout: float = 10.0) -> Any:
        """Run one of the async operations on the gateway's loop from another thread."""
        if self._loop is None or self._loop.is_closed():
            coroutine.close()
            raise RuntimeError("the gateway is not running")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise


# -- the @connections management API over HTTP --------------------------------------------------


class _ManagementServer(ThreadingHTTPServer):
    daemon_threads = True  # keep-alive connections of boto3 clients must not block shutdown

    def __init__(self, address: tuple[str, int], gateway: LocalWebSocketGateway) -> None:
        self.gateway = gateway
        stage = re.escape(gateway.settings.stage)
        self.path_pattern = re.compile(rf"^(?:/{stage})?/@connections/(?P<id>[^/]+)$")
        super().__init__(address, _ManagementHandler)


class _ManagementHandler(BaseHTTPRequestHandler):
    """POST/GET/DELETE @connections/{id}, answering like the AWS service (rest-json errors)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't wait for an ACK
    server: _ManagementServer

    def do_POST(self) -> None:
        connection_id = self._connection_id()
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if connection_id is None:
            return
        if len(data) > API_GATEWAY_MAX_MESSAGE_BYTES:
            self._error(413, "PayloadTooLargeException", "Message too long")
            return
        if self._call(self.server.gateway.post_to_connection(connection_id, data)):
            self._reply(200)

    def do_GET(self) -> None:
        connection_id = self._connection_id()
        if connection_id is None:
            return
        info = self._call(self.server.gateway.get_connection(connection_id))
        if info is not None:
            self._reply(200, info.model_dump_json(by_alias=True).encode())

    def do_DELETE(self) -> None:
        connection_id = self._connection_id()
        if connection_id is not None and self._call(self.server.gateway.delete_connection(connection_id)):
            self._reply(204)

    def _connection_id(self) -> str | None:
        match = self.server.path_pattern.match(urlsplit(self.path).path)
        if match is None:
            self._error(403, "ForbiddenException", "Forbidden")
            return None
        return unquote(match["id"])

    def _call(self, coroutine: Any) -> Any:
        """The gateway's answer, or None after replying 410 (unknown) or 503 (shutting down)."""
        try:
            result = self.server.gateway.call_from_thread(coroutine)
        except TimeoutError:  # the client does not read: its buffer is full
            self._error(429, "LimitExceededException", "The client side buffer is full")
            return None
        except RuntimeError:
            self._error(503, "ServiceUnavailableException", "The gateway is shutting down")
            return None
        if result is None or result is False:
            self._error(410, "GoneException", None)
            return None
        return result

    def _error(self, status: int, error_type: str, message: str | None) -> None:
        self._reply(status, json.dumps({"message": message}).encode(), {"x-amzn-ErrorType": error_type})

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("x-amzn-RequestId", _new_id())
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 204:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("management request", detail=format % args)


# -- pointing Chalice's websocket_api at the gateway --------------------------------------------


class LocalManagementSession:
    """A boto3 session stand-in whose `apigatewaymanagementapi` clients use a local endpoint.

    Everything else is delegated to the wrapped session. Requests are signed with the wrapped
    session's credentials, or with dummy ones when it has none (the gateway checks no signature).
    """

    def __init__(self, endpoint_url: str, session: Any = None) -> None:
        self.endpoint_url = endpoint_url
        self.wrapped: Any = session if session is not None else boto3.session.Session()

    @property
    def region_name(self) -> str:
        return str(self.wrapped.region_name or "us-east-1")

    def client(self, service_name: str, **kwargs: Any) -> Any:
        if service_name == "apigatewaymanagementapi":
            kwargs["endpoint_url"] = self.endpoint_url
            kwargs.setdefault("region_name", self.region_name)
            if self.wrapped.get_credentials() is None:
                kwargs.setdefault("aws_access_key_id", "local")
                kwargs.setdefault("aws_secret_access_key", "local")
        return self.wrapped.client(service_name, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


def configure_chalice_endpoint(app: Chalice, endpoint_url: str) -> None:
    """Make `app.websocket_api.send/close/info` call `endpoint_url` instead of execute-api.

    Chalice builds its client from `app.websocket_api.session` with the https execute-api URL it
    derives from the first event; this wraps that session (or a new one) so the client gets
    `endpoint_url` instead. Call it before the first send, or again to move to another gateway.
    """
    current = app.websocket_api.session
    if isinstance(current, LocalManagementSession):
        current = current.wrapped
    app.websocket_api.session = LocalManagementSession(endpoint_url, current)
    # Chalice caches the client it built; drop one that points elsewhere.
    app.websocket_api._client = None


# -- running it ---------------------------------------------------------------------------------


class GatewayHandle:
    """A gateway running on its own event loop in a background thread (see `run_in_thread`)."""

    def __init__(
        self, gateway: LocalWebSocketGateway, loop: asyncio.AbstractEventLoop, thread: threading.Thread
    ) -> None:
        self.gateway = gateway
        self.ws_url = gateway.ws_url
        self.management_url = gateway.management_url
        self._loop = loop
        self._thread = thread

    def stop(self, timeout: float = 30.0) -> None:
        """Disconnect every client (running $disconnect for each) and stop both servers."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.gateway.stop(), self._loop).result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

    def __enter__(self) -> GatewayHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run_in_thread(
    app: Chalice,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    management_port: int = 0,
    settings: GatewaySettings | None = None,
    configure_app: bool = True,
) -> GatewayHandle:
    """Start a gateway for `app` in a background thread; returns once both ports listen."""
    gateway = LocalWebSocketGateway(app, settings, configure_app=configure_app)
    loop = asyncio.new_event_loop()
    started: concurrent.futures.Future[None] = concurrent.futures.Future()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(gateway.start(host, port, management_port))
        except BaseException as exc:
            started.set_exception(exc)
        else:
            started.set_result(None)
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=run, name="ws-gateway", daemon=True)
    thread.start()
    started.result(timeout=30)
    return GatewayHandle(gateway, loop, thread)


def load_app(module_name: str, attribute: str = "app", *, require_handlers: bool = True) -> Chalice:
    """The Chalice app object `attribute` of module `module_name`, or a ValueError saying why not."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import app module {module_name!r}: {exc}") from exc
    app = getattr(module, attribute, None)
    if not isinstance(app, Chalice):
        raise ValueError(f"{module_name}.{attribute} is not a Chalice app")
    if require_handlers and not app.websocket_handlers:
        raise ValueError(f"{module_name}.{attribute} registers no WebSocket handlers")
    return app


async def _serve_until_signalled(gateway: LocalWebSocketGateway, host: str, port: int, mport: int) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await gateway.start(host, port, mport)
    try:
        await stopping.wait()
    finally:
        await gateway.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.ws_gateway",
        description="Serve a Chalice app's WebSocket handlers like API Gateway, with the @connections API.",
    )
    parser.add_argument("--app-module", default="app", help="module holding the Chalice app (default: app)")
    parser.add_argument("--app-attr", default="app", help="name of the app object in it (default: app)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082, help="WebSocket port (default: 8082)")
    parser.add_argument(
        "--management-port",
        type=int,
        default=None,
        help="@connections API port (default: --port + 1, or ephemeral when --port is 0)",
    )
    parser.add_argument("--stage", default="api")
    parser.add_argument("--idle-timeout", type=float, default=600.0, help="seconds (default: 600)")
    parser.add_argument(
        "--allow-no-handlers",
        action="store_true",
        help="serve even when the app has no WebSocket handlers yet (the local stack does)",
    )
    args = parser.parse_args(argv)
    try:
        app = load_app(args.app_module, args.app_attr, require_handlers=not args.allow_no_handlers)
        settings = GatewaySettings(stage=args.stage, idle_timeout=args.idle_timeout)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError too
        parser.error(str(exc))
    management_port = args.management_port
    if management_port is None:
        management_port = args.port + 1 if args.port else 0
    gateway = LocalWebSocketGateway(app, settings)
    asyncio.run(_serve_until_signalled(gateway, args.host, args.port, management_port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
