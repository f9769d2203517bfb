"""Realtime test harness: the app's WebSocket handlers behind the real local gateway, real
WebSocket clients, and a stream pump feeding the table's stream to the app's stream handler."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from websockets.sync.client import ClientConnection, connect

from infra.local.ws_gateway import GatewayHandle
from tests.support.streams import StreamReader


@dataclass
class Realtime:
    gateway: GatewayHandle
    stream: StreamReader

    @contextmanager
    def socket(self, token: str, **query: Any) -> Iterator[ClientConnection]:
        params = "&".join(f"{k}={v}" for k, v in {"token": token, **query}.items())
        with connect(f"{self.gateway.ws_url}?{params}", open_timeout=10) as ws:
            yield ws

    def pump(self) -> list[dict[str, Any]]:
        """Hand every new stream record to the app's stream handler, as Lambda would."""
        from app import on_table_change

        records = self.stream.drain()
        if records:
            on_table_change({"Records": records}, None)
        return records


def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    ws.send(json.dumps(message))


def recv(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    return dict(json.loads(ws.recv(timeout=timeout)))


def subscribe(ws: ClientConnection, channels: list[str], since: int | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "subscribe", "channels": channels}
    if since is not None:
        message["since"] = since
    send(ws, message)
    reply = recv(ws)
    assert reply["type"] == "subscribed", reply
    return reply


def assert_nothing_more(ws: ClientConnection) -> None:
    """Frames to a connection arrive in order: if a ping's pong is next, nothing else was pending."""
    send(ws, {"type": "ping"})
    assert recv(ws) == {"type": "pong"}
