"""The bodies of the `$connect`, `$default` and `$disconnect` handlers (app.py only wires them).

Events are API Gateway's WebSocket events as dicts; results are Lambda proxy responses."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from chalicelib.access import admit
from chalicelib.config import get_settings
from chalicelib.errors import ApiError
from chalicelib.logs import logger
from chalicelib.realtime import connections, messages, replay, sender
from chalicelib.realtime.messages import Ping, ProtocolError, Subscribe
from chalicelib.store.table import get_store

BEARER_PREFIX = "bearer."


def _offered_token(event: dict[str, Any]) -> tuple[str | None, str | None]:
    """The token and, when it came as a subprotocol, the subprotocol to select."""
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == "sec-websocket-protocol":
            for offered in value.split(","):
                offered = offered.strip()
                if offered.startswith(BEARER_PREFIX) and len(offered) > len(BEARER_PREFIX):
                    return offered[len(BEARER_PREFIX) :], offered
    token = (event.get("queryStringParameters") or {}).get("token")
    return (token or None), None


def _refuse(error: ApiError) -> dict[str, Any]:
    """API Gateway ends the handshake with this status (401, 403, 429 with Retry-After)."""
    body = {"error": error.title, "message": error.message, "code": error.code}
    headers = {"Content-Type": "application/json", **error.headers}
    return {"statusCode": error.status, "headers": headers, "body": json.dumps(body)}


def connect(event: dict[str, Any]) -> dict[str, Any]:
    context = event["requestContext"]
    token, subprotocol = _offered_token(event)
    try:
        principal, _ = admit(token, (context.get("identity") or {}).get("sourceIp"))
        principal.require("read")
    except ApiError as exc:
        return _refuse(exc)
    connections.save_connection(
        context["connectionId"], principal.tenant, principal.subject, sender.endpoint_for(context)
    )
    logger.info("ws connected", extra={"connection_id": context["connectionId"], "tenant": principal.tenant})
    headers = {"Sec-WebSocket-Protocol": subprotocol} if subprotocol else {}
    return {"statusCode": 200, "headers": headers}


def message(event: dict[str, Any]) -> None:
    connection_id = event["requestContext"]["connectionId"]
    conn = connections.get_connection(connection_id)
    endpoint = conn.endpoint if conn else sender.endpoint_for(event["requestContext"])
    if conn is None:  # its $connect record is gone: nothing to serve it with
        _reply(endpoint, connection_id, messages.error("NOT_CONNECTED", "connect again"))
        sender.close(endpoint, connection_id)
        return
    if not _within_rate(connection_id):
        per_second = get_settings().websocket_messages_per_second
        _reply(
            endpoint, connection_id, messages.error("RATE_LIMITED", f"over {per_second} messages per second")
        )
        sender.close(endpoint, connection_id)
        connections.forget(connection_id)
        return
    try:
        request = messages.parse(event.get("body"))
        if isinstance(request, Ping):
            _reply(endpoint, connection_id, {"type": "pong"})
        elif isinstance(request, Subscribe):
            replay.subscribe(conn, request.channels, request.since)
        else:
            remaining = connections.remove_subscriptions(conn, request.channels)
            _reply(
                endpoint, connection_id, messages.subscribed(remaining, connections.tenant_seq(conn.tenant))
            )
    except ProtocolError as exc:
        _reply(endpoint, connection_id, messages.error(exc.code, exc.message))
    except sender.ConnectionGone:
        connections.forget(connection_id)


def disconnect(event: dict[str, Any]) -> None:
    connections.forget(event["requestContext"]["connectionId"])


def _reply(endpoint: str, connection_id: str, frame: dict[str, Any]) -> None:
    with contextlib.suppress(sender.ConnectionGone):
        sender.send(endpoint, connection_id, messages.encode(frame))


_limiter: Any = None


def _within_rate(connection_id: str) -> bool:
    """10 messages per second per connection (conventions), as a shared limit in the table."""
    from chalicelib.ratelimit import RateLimiter

    global _limiter
    if _limiter is None or _limiter._store is not get_store():
        _limiter = RateLimiter(get_store())
    per_second = get_settings().websocket_messages_per_second
    return bool(_limiter.check(f"ws:{connection_id}", per_second * 60, per_second).allowed)
