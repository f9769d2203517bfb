"""The synchronous one-request ASGI bridge, with small hand-written ASGI apps."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import pytest

from chalicelib.mcp.asgi_bridge import (
    AsgiBridgeError,
    AsgiTimeout,
    HttpRequest,
    HttpResponse,
    Message,
    Receive,
    Scope,
    Send,
    run_asgi,
)


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    message = await receive()
    body = json.dumps(
        {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"].decode(),
            "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]],
            "body": message["body"].decode(),
            "more_body": message["more_body"],
            "state": scope["state"],
            "scheme": scope["scheme"],
        }
    ).encode()
    await send(
        {"type": "http.response.start", "status": 201, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


def test_request_becomes_an_http_scope_and_the_response_is_collected() -> None:
    request = HttpRequest(
        "post", "/mcp", {"Content-Type": "application/json", "X-Trace": "a"}, b'{"x": 1}', "a=1&b=2"
    )

    response = run_asgi(echo, request, state={"caller": "alice"})

    assert response.status == 201
    assert response.header("Content-Type") == "application/json"
    seen = json.loads(response.body)
    assert seen == {
        "method": "POST",
        "path": "/mcp",
        "query": "a=1&b=2",
        "headers": [["content-type", "application/json"], ["x-trace", "a"]],
        "body": '{"x": 1}',
        "more_body": False,
        "state": {"caller": "alice"},
        "scheme": "https",
    }


def test_headers_may_be_a_list_of_pairs_with_repeats() -> None:
    response = run_asgi(echo, HttpRequest("GET", "/", [("Accept", "a"), ("Accept", "b")]))

    assert json.loads(response.body)["headers"] == [["accept", "a"], ["accept", "b"]]


def test_streamed_body_chunks_are_joined() -> None:
    async def chunks(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one ", b"two ", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    assert run_asgi(chunks, HttpRequest("GET", "/")) == HttpResponse(200, [], b"one two three")


def test_receive_reports_disconnect_only_after_the_response_is_complete() -> None:
    order: list[str] = []

    async def watcher(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

        async def wait_disconnect() -> None:
            message: Message = await receive()
            order.append(message["type"])

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait_disconnect)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await anyio.wait_all_tasks_blocked()
            order.append("body sent")
            await send({"type": "http.response.body", "body": b"done"})

    response = run_asgi(watcher, HttpRequest("GET", "/"))

    assert response.body == b"done"
    assert order == ["body sent", "http.disconnect"]


def test_a_response_that_never_completes_times_out() -> None:
    async def endless(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await anyio.Event().wait()

    started = time.monotonic()
    with pytest.raises(AsgiTimeout):
        run_asgi(endless, HttpRequest("GET", "/"), timeout_s=0.2)
    assert time.monotonic() - started < 5


def test_an_app_that_returns_without_answering_is_an_error() -> None:
    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    with pytest.raises(AsgiBridgeError, match="without a complete response"):
        run_asgi(silent, HttpRequest("GET", "/"))


def test_exceptions_from_the_app_propagate() -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise LookupError("no route")

    with pytest.raises(LookupError, match="no route"):
        run_asgi(failing, HttpRequest("GET", "/"))


def test_each_call_gets_its_own_state() -> None:
    async def mutate(scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"]["seen"] = True
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    state: dict[str, Any] = {"caller": "alice"}
    run_asgi(mutate, HttpRequest("GET", "/"), state=state)

    assert state == {"caller": "alice"}
