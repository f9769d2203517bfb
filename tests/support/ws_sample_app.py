"""A small Chalice app with WebSocket handlers, for the local gateway's tests.

It accepts the token `good-token` (query `?token=` or subprotocol `bearer.<token>`), records every
event it receives, and answers messages through `app.websocket_api.send`, as BorgOS does.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from chalice import Chalice, Response
from chalice.app import WebsocketDisconnectedError, WebsocketEvent

GOOD_TOKEN = "good-token"
BEARER_PREFIX = "bearer."


@dataclass
class SampleApp:
    app: Chalice
    events: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, event: WebsocketEvent) -> dict[str, Any]:
        raw = event.to_dict()
        with self.lock:
            self.events[raw["requestContext"]["routeKey"]].append(raw)
        return raw

    def seen(self, route_key: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.events[route_key])


def _offered_bearer(headers: dict[str, str]) -> str | None:
    for name, value in headers.items():
        if name.lower() == "sec-websocket-protocol":
            for offered in value.split(","):
                if offered.strip().startswith(BEARER_PREFIX):
                    return offered.strip()
    return None


def build_sample_app(name: str = "ws-sample") -> SampleApp:
    app = Chalice(app_name=name)
    app.experimental_feature_flags.update(["WEBSOCKETS"])
    sample = SampleApp(app)

    @app.on_ws_connect()
    def connect(event: WebsocketEvent) -> Response:
        raw = sample.record(event)
        query = raw.get("queryStringParameters") or {}
        if query.get("fail") == "raise":
            raise RuntimeError("connect handler crashed")
        time.sleep(float(query.get("slow", 0)))  # lets tests act while $connect runs
        bearer = _offered_bearer(raw.get("headers") or {})
        token = bearer[len(BEARER_PREFIX) :] if bearer else query.get("token")
        if token != GOOD_TOKEN:
            return Response(body='{"error": "Unauthorized"}', status_code=401)
        headers: dict[str, str | list[str]] = {"Sec-WebSocket-Protocol": bearer} if bearer else {}
        return Response(body="", status_code=200, headers=headers)

    @app.on_ws_message()
    def message(event: WebsocketEvent) -> None:
        sample.record(event)
        if event.body == "raise":
            raise RuntimeError("message handler crashed")
        if event.body.startswith("slow:"):
            time.sleep(float(event.body[len("slow:") :]))
        if event.body.startswith("send-to:"):  # reports whether Chalice saw the target as gone
            target = event.body[len("send-to:") :]
            try:
                app.websocket_api.send(target, "hello")
            except WebsocketDisconnectedError:
                app.websocket_api.send(event.connection_id, f"gone:{target}")
            return
        app.websocket_api.send(event.connection_id, f"echo:{event.body}")

    @app.on_ws_disconnect()
    def disconnect(event: WebsocketEvent) -> None:
        sample.record(event)

    return sample


app = (
    build_sample_app().app
)  # for `python -m infra.local.ws_gateway --app-module tests.support.ws_sample_app`
