"""The local API Gateway WebSocket emulator, driven by real WebSocket clients and boto3."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from chalice import Chalice
from pydantic import ValidationError
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from infra.local.ws_gateway import (
    API_GATEWAY_MAX_MESSAGE_BYTES,
    GatewayHandle,
    GatewaySettings,
    LocalWebSocketGateway,
    load_app,
    main,
    run_in_thread,
)
from tests.support.ws_sample_app import GOOD_TOKEN, SampleApp, build_sample_app

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# One boto3 session for the whole module: each new one loads the service models again (~0.1 s).
SESSION = boto3.session.Session(
    region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
)


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.01)
    raise AssertionError("condition not met before the deadline")


@pytest.fixture
def sample() -> SampleApp:
    sample = build_sample_app()
    sample.app.websocket_api.session = SESSION  # as an app module does; the gateway wraps it
    return sample


@pytest.fixture
def gateway(sample: SampleApp) -> Iterator[GatewayHandle]:
    handle = run_in_thread(sample.app)
    yield handle
    handle.stop()


def management(handle: GatewayHandle) -> Any:
    return SESSION.client("apigatewaymanagementapi", endpoint_url=handle.management_url)


def open_client(handle: GatewayHandle, query: str = f"token={GOOD_TOKEN}", **kwargs: Any) -> ClientConnection:
    return connect(f"{handle.ws_url}?{query}", open_timeout=5, **kwargs)


def connection_id_of(sample: SampleApp, index: int = -1) -> str:
    events = wait_for(lambda: sample.seen("$connect"))
    return str(events[index]["requestContext"]["connectionId"])


# -- $connect ------------------------------------------------------------------------------------


def test_connect_event_is_shaped_like_api_gateway(sample: SampleApp, gateway: GatewayHandle) -> None:
    with open_client(gateway, f"token={GOOD_TOKEN}&tag=a&tag=b", additional_headers={"X-Trace": "t1"}):
        (event,) = sample.seen("$connect")

    context = event["requestContext"]
    assert context["routeKey"] == "$connect"
    assert context["eventType"] == "CONNECT"
    assert context["stage"] == "api"
    assert context["apiId"] == "local"
    assert context["domainName"] == gateway.ws_url.split("/")[2]
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"].startswith("Python/")
    assert len(context["connectionId"]) == 16 and context["requestId"] != context["connectionId"]
    assert abs(context["requestTimeEpoch"] - time.time() * 1000) < 60_000
    assert context["connectedAt"] <= context["requestTimeEpoch"]
    assert event["queryStringParameters"] == {"token": GOOD_TOKEN, "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"token": [GOOD_TOKEN], "tag": ["a", "b"]}
    assert event["headers"]["X-Trace"] == "t1"
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert event["multiValueHeaders"]["X-Trace"] == ["t1"]
    assert event["isBase64Encoded"] is False


def test_connect_refused_with_the_handler_status(sample: SampleApp, gateway: GatewayHandle) -> None:
    with pytest.raises(InvalidStatus) as refused:
        open_client(gateway, "token=wrong")

    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body or b"") == {"error": "Unauthorized"}
    assert gateway.gateway.connection_ids == []
    gateway.stop()
    assert sample.seen("$disconnect") == []  # no $disconnect for a connection that never opened


def test_connect_without_query_has_no_query_keys(sample: SampleApp, gateway: GatewayHandle) -> None:
    with pytest.raises(InvalidStatus):
        connect(gateway.ws_url, open_timeout=5)

    (event,) = sample.seen("$connect")
    assert "queryStringParameters" not in event
    assert "multiValueQueryStringParameters" not in event


def test_connect_handler_crash_is_a_502(gateway: GatewayHandle) -> None:
    with pytest.raises(InvalidStatus) as refused:
        open_client(gateway, "fail=raise")

    assert refused.value.response.status_code == 502
    assert gateway.gateway.connection_ids == []


def test_bearer_subprotocol_is_echoed_when_the_handler_selects_it(
    sample: SampleApp, gateway: GatewayHandle
) -> None:
    offered = [Subprotocol("json"), Subprotocol(f"bearer.{GOOD_TOKEN}")]

    with connect(gateway.ws_url, subprotocols=offered, open_timeout=5) as ws:
        assert ws.subprotocol == f"bearer.{GOOD_TOKEN}"
        ws.send("hi")
        assert ws.recv(timeout=5) == "echo:hi"

    (event,) = sample.seen("$connect")
    assert event["headers"]["Sec-WebSocket-Protocol"] == f"json, bearer.{GOOD_TOKEN}"


def test_offered_subprotocol_not_selected_by_the_handler_is_not_echoed(gateway: GatewayHandle) -> None:
    with open_client(gateway, subprotocols=[Subprotocol("chat")]) as ws:
        assert ws.subprotocol is None


def test_bad_bearer_token_is_refused(gateway: GatewayHandle) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(gateway.ws_url, subprotocols=[Subprotocol("bearer.nope")], open_timeout=5)

    assert refused.value.response.status_code == 401


# -- messages ------------------------------------------------------------------------------------


def test_messages_reach_the_handler_and_websocket_api_send_answers(
    sample: SampleApp, gateway: GatewayHandle
) -> None:
    with open_client(gateway) as ws:
        ws.send("hello")
        assert ws.recv(timeout=5) == "echo:hello"
        ws.send("again")
        assert ws.recv(timeout=5) == "echo:again"

    connection_id = connection_id_of(sample)
    first, second = sample.seen("$default")
    assert first["requestContext"]["routeKey"] == "$default"
    assert first["requestContext"]["eventType"] == "MESSAGE"
    assert first["requestContext"]["connectionId"] == connection_id
    assert first["requestContext"]["messageId"] != second["requestContext"]["messageId"]
    assert (first["body"], second["body"]) == ("hello", "again")


def test_binary_frames_reach_the_handler_base64_encoded(sample: SampleApp, gateway: GatewayHandle) -> None:
    with open_client(gateway) as ws:
        ws.send(b"\x00\xffbin")
        assert ws.recv(timeout=5) == "echo:" + base64.b64encode(b"\x00\xffbin").decode()

    (event,) = sample.seen("$default")
    assert event["isBase64Encoded"] is True


def test_a_crashing_message_handler_reports_an_internal_error(gateway: GatewayHandle) -> None:
    with open_client(gateway) as ws:
        ws.send("raise")
        error = json.loads(ws.recv(timeout=5))
        ws.send("still here")
        assert ws.recv(timeout=5) == "echo:still here"

    assert error["message"] == "Internal server error"
    assert error["connectionId"] in error.values() and error["requestId"]


def test_message_of_the_maximum_size_is_accepted(sample: SampleApp, gateway: GatewayHandle) -> None:
    with open_client(gateway) as ws:
        ws.send("x" * API_GATEWAY_MAX_MESSAGE_BYTES)
        wait_for(lambda: sample.seen("$default"))

    assert len(sample.seen("$default")[0]["body"]) == API_GATEWAY_MAX_MESSAGE_BYTES


def test_oversize_message_closes_with_1009(sample: SampleApp, gateway: GatewayHandle) -> None:
    with open_client(gateway) as ws:
        ws.send("x" * (API_GATEWAY_MAX_MESSAGE_BYTES + 1))
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=5)

    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    (event,) = wait_for(lambda: sample.seen("$disconnect"))
    assert event["requestContext"]["disconnectStatusCode"] == 1009
    assert sample.seen("$default") == []


# -- $disconnect ---------------------------------------------------------------------------------


def test_client_close_runs_disconnect_exactly_once(sample: SampleApp, gateway: GatewayHandle) -> None:
    with open_client(gateway) as ws:
        connection_id = connection_id_of(sample)
        ws.close(code=1000, reason="bye")
    wait_for(lambda: sample.seen("$disconnect"))
    gateway.stop()  # waits for every handler: a second $disconnect would be recorded by now

    (event,) = sample.seen("$disconnect")
    context = event["requestContext"]
    assert context["routeKey"] == "$disconnect"
    assert context["eventType"] == "DISCONNECT"
    assert context["connectionId"] == connection_id
    assert context["disconnectStatusCode"] == 1000
    assert context["disconnectReason"] == "bye"


def test_idle_connections_are_closed_with_1001(sample: SampleApp) -> None:
    with (
        run_in_thread(sample.app, settings=GatewaySettings(idle_timeout=0.3)) as handle,
        open_client(handle) as ws,
    ):
        ws.send("keep")
        assert ws.recv(timeout=5) == "echo:keep"
        with pytest.raises(ConnectionClosedOK) as closed:
            ws.recv(timeout=5)

    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    (event,) = sample.seen("$disconnect")
    assert event["requestContext"]["disconnectStatusCode"] == 1001


def test_shutdown_disconnects_every_client(sample: SampleApp, gateway: GatewayHandle) -> None:
    with open_client(gateway) as first, open_client(gateway) as second:
        ids = {connection_id_of(sample, 0), connection_id_of(sample, 1)}

        gateway.stop()

        assert {e["requestContext"]["connectionId"] for e in sample.seen("$disconnect")} == ids
        assert len(sample.seen("$disconnect")) == 2
        for ws in (first, second):
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


# -- the @connections API ------------------------------------------------------------------------


def test_boto3_management_api_posts_describes_and_deletes(sample: SampleApp, gateway: GatewayHandle) -> None:
    client = management(gateway)
    with open_client(gateway, additional_headers={"User-Agent": "borgos-test/1"}) as ws:
        connection_id = connection_id_of(sample)
        before = client.get_connection(ConnectionId=connection_id)

        client.post_to_connection(ConnectionId=connection_id, Data=b'{"type": "pong"}')
        assert ws.recv(timeout=5) == '{"type": "pong"}'
        after = client.get_connection(ConnectionId=connection_id)

        client.delete_connection(ConnectionId=connection_id)
        with pytest.raises(ConnectionClosedOK) as closed:
            ws.recv(timeout=5)

    assert before["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "borgos-test/1"}
    assert before["ConnectedAt"].tzinfo is not None
    assert after["ConnectedAt"] == before["ConnectedAt"]
    assert after["LastActiveAt"] > before["LastActiveAt"]
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    (event,) = wait_for(lambda: sample.seen("$disconnect"))
    assert event["requestContext"]["connectionId"] == connection_id
    with pytest.raises(client.exceptions.GoneException):
        client.get_connection(ConnectionId=connection_id)


def test_binary_post_is_sent_as_a_binary_frame(sample: SampleApp, gateway: GatewayHandle) -> None:
    with open_client(gateway) as ws:
        management(gateway).post_to_connection(ConnectionId=connection_id_of(sample), Data=b"\xff\x00")
        assert ws.recv(timeout=5) == b"\xff\x00"


def test_unknown_connection_is_gone(gateway: GatewayHandle) -> None:
    client = management(gateway)

    for call in (
        lambda: client.post_to_connection(ConnectionId="L0SM9cOFvHcCIhw=", Data=b"x"),
        lambda: client.get_connection(ConnectionId="L0SM9cOFvHcCIhw="),
        lambda: client.delete_connection(ConnectionId="L0SM9cOFvHcCIhw="),
    ):
        with pytest.raises(client.exceptions.GoneException) as gone:
            call()
        assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


def test_post_over_128_kib_is_refused_and_sends_nothing(sample: SampleApp, gateway: GatewayHandle) -> None:
    client = management(gateway)
    with open_client(gateway) as ws:
        connection_id = connection_id_of(sample)
        with pytest.raises(client.exceptions.PayloadTooLargeException):
            client.post_to_connection(
                ConnectionId=connection_id, Data=b"x" * (API_GATEWAY_MAX_MESSAGE_BYTES + 1)
            )
        client.post_to_connection(ConnectionId=connection_id, Data=b"next")
        assert ws.recv(timeout=5) == "next"


def test_management_path_outside_the_stage_is_forbidden(gateway: GatewayHandle) -> None:
    client = SESSION.client("apigatewaymanagementapi", endpoint_url=gateway.management_url[:-4] + "/other")

    with pytest.raises(client.exceptions.ForbiddenException):
        client.get_connection(ConnectionId="L0SM9cOFvHcCIhw=")


def test_chalice_send_to_a_closed_connection_raises_disconnected(
    sample: SampleApp, gateway: GatewayHandle
) -> None:
    with open_client(gateway):
        gone_id = connection_id_of(sample)
    wait_for(lambda: sample.seen("$disconnect"))

    with open_client(gateway) as ws:
        ws.send(f"send-to:{gone_id}")
        assert ws.recv(timeout=5) == f"gone:{gone_id}"


def test_the_app_follows_the_gateway_across_restarts(sample: SampleApp) -> None:
    for _ in range(2):  # Chalice caches its client: the second gateway must replace it
        with run_in_thread(sample.app) as handle, open_client(handle) as ws:
            ws.send("ping")
            assert ws.recv(timeout=5) == "echo:ping"


# -- async API, settings, CLI --------------------------------------------------------------------


def test_async_start_and_stop(sample: SampleApp) -> None:
    async def scenario() -> str:
        gateway = LocalWebSocketGateway(sample.app)
        await gateway.start("127.0.0.1", 0)
        try:
            async with async_connect(f"{gateway.ws_url}?token={GOOD_TOKEN}") as ws:
                await ws.send("async")
                reply = await asyncio.wait_for(ws.recv(), 5)
                (connection_id,) = gateway.connection_ids
                assert await gateway.post_to_connection(connection_id, b"direct")
                assert await asyncio.wait_for(ws.recv(), 5) == "direct"
        finally:
            await gateway.stop()
        return str(reply)

    assert asyncio.run(scenario()) == "echo:async"
    assert len(sample.seen("$disconnect")) == 1


@pytest.mark.parametrize(
    "bad",
    [{"idle_timeout": 0}, {"max_message_bytes": -1}, {"stage": "a/b"}, {"handler_workers": 0}, {"oops": 1}],
)
def test_bad_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        GatewaySettings(**bad)


def test_load_app_explains_what_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    bare = types.ModuleType("ws_bare_app")
    bare.app = Chalice(app_name="bare")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ws_bare_app", bare)

    with pytest.raises(ValueError, match="cannot import"):
        load_app("no_such_module_for_ws_gateway")
    with pytest.raises(ValueError, match="is not a Chalice app"):
        load_app("tests.support.ws_sample_app", "GOOD_TOKEN")
    with pytest.raises(ValueError, match="registers no WebSocket handlers"):
        load_app("ws_bare_app")
    assert load_app("tests.support.ws_sample_app").websocket_handlers


def test_cli_refuses_a_bad_app_module() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--app-module", "no_such_module_for_ws_gateway", "--port", "0"])

    assert exited.value.code == 2


def test_cli_serves_an_app_module_until_terminated() -> None:
    env = {**os.environ, "POWERTOOLS_LOG_LEVEL": "INFO", "PYTHONPATH": str(PROJECT_ROOT)}
    command = [sys.executable, "-m", "infra.local.ws_gateway", "--app-module", "tests.support.ws_sample_app"]
    process = subprocess.Popen(
        [*command, "--port", "0"], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        started = next(
            record
            for line in process.stdout
            if (record := json.loads(line))["message"] == "ws gateway started"
        )
        assert started["management_url"].endswith("/api")
        with connect(f"{started['ws_url']}?token={GOOD_TOKEN}", open_timeout=5) as ws:
            ws.send("cli")
            assert ws.recv(timeout=5) == "echo:cli"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# -- timeouts and handshakes that go wrong -------------------------------------------------------


def test_slow_handlers_time_out_like_the_integration(sample: SampleApp) -> None:
    settings = GatewaySettings(integration_timeout=0.1)
    with run_in_thread(sample.app, settings=settings) as handle:
        with pytest.raises(InvalidStatus) as refused:
            open_client(handle, f"token={GOOD_TOKEN}&slow=0.2")
        with open_client(handle) as ws:
            ws.send("slow:0.2")
            timed_out = json.loads(ws.recv(timeout=5))

    assert refused.value.response.status_code == 504
    assert timed_out["message"] == "Endpoint request timed out"


def test_plain_http_request_is_not_an_upgrade_and_runs_no_connect(
    sample: SampleApp, gateway: GatewayHandle
) -> None:
    response = httpx.get(gateway.ws_url.replace("ws://", "http://") + f"?token={GOOD_TOKEN}")

    assert response.status_code == 426
    assert sample.seen("$connect") == []


def test_malformed_upgrade_after_connect_runs_disconnect(sample: SampleApp, gateway: GatewayHandle) -> None:
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}  # no key
    response = httpx.get(gateway.ws_url.replace("ws://", "http://") + f"?token={GOOD_TOKEN}", headers=headers)

    assert response.status_code == 400
    (connected,) = sample.seen("$connect")
    (disconnected,) = sample.seen("$disconnect")
    assert disconnected["requestContext"]["connectionId"] == connected["requestContext"]["connectionId"]
    assert gateway.gateway.connection_ids == []


def test_client_leaving_during_connect_gets_its_disconnect(sample: SampleApp, gateway: GatewayHandle) -> None:
    host, port = gateway.ws_url.split("/")[2].split(":")
    request = (
        f"GET /api?token={GOOD_TOKEN}&slow=0.3 HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection((host, int(port))) as raw:
        raw.sendall(request.encode())
        wait_for(lambda: sample.seen("$connect"))
    (event,) = wait_for(lambda: sample.seen("$disconnect"))

    assert event["requestContext"]["disconnectStatusCode"] == 1006
    assert gateway.gateway.connection_ids == []


def test_shutdown_during_connect_refuses_and_disconnects(sample: SampleApp, gateway: GatewayHandle) -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        attempt = pool.submit(open_client, gateway, f"token={GOOD_TOKEN}&slow=0.3")
        wait_for(lambda: sample.seen("$connect"))
        gateway.stop()

        with pytest.raises(InvalidStatus) as refused:
            attempt.result(timeout=5)

    assert refused.value.response.status_code == 503
    (event,) = sample.seen("$disconnect")
    assert event["requestContext"]["connectionId"] == connection_id_of(sample)


def test_connections_are_closed_after_their_maximum_duration(sample: SampleApp) -> None:
    settings = GatewaySettings(max_connection_duration=0.3)
    with run_in_thread(sample.app, settings=settings) as handle, open_client(handle) as ws:
        deadline = time.monotonic() + 5
        with pytest.raises(ConnectionClosedOK) as closed:  # busy all along, closed anyway
            while time.monotonic() < deadline:
                ws.send("busy")
                ws.recv(timeout=5)

    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


def test_posts_to_the_client_keep_it_from_idling(sample: SampleApp) -> None:
    settings = GatewaySettings(idle_timeout=0.3)
    with run_in_thread(sample.app, settings=settings) as handle, open_client(handle) as ws:
        client, connection_id = management(handle), connection_id_of(sample)
        for _ in range(5):  # 0.5 s in all, never 0.3 s without data
            client.post_to_connection(ConnectionId=connection_id, Data=b"tick")
            assert ws.recv(timeout=5) == "tick"
            time.sleep(0.1)
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=5)


def test_app_without_message_handler_answers_forbidden() -> None:
    app = Chalice(app_name="connect-only")
    app.experimental_feature_flags.update(["WEBSOCKETS"])

    @app.on_ws_connect()
    def connect_only(event: Any) -> None:
        return None

    with run_in_thread(app) as handle, connect(handle.ws_url, open_timeout=5) as ws:
        ws.send("anything")
        reply = json.loads(ws.recv(timeout=5))

    assert reply["message"] == "Forbidden"


def test_chalice_send_works_without_any_aws_credentials_or_region(
    sample: SampleApp, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    sample.app.websocket_api.session = None  # the gateway must bring its own session

    with run_in_thread(sample.app) as handle, open_client(handle) as ws:
        ws.send("no creds")
        assert ws.recv(timeout=5) == "echo:no creds"
