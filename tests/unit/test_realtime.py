"""WebSocket API end to end through the real local gateway: connect/auth, protocol, live fan-out
from the table's stream, `since` replay without gap or duplicate, tenant isolation, gone
connections, the per-connection message rate limit."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from chalicelib import aws as aws_clients
from chalicelib.config import get_settings, reset_settings
from infra.local.ws_gateway import GatewayHandle, run_in_thread
from tests.support.realtime import Realtime, assert_nothing_more, recv, send, subscribe
from tests.support.streams import StreamReader
from tests.unit.conftest import Caller, body, issue


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayHandle]:
    from app import app

    handle = run_in_thread(app, configure_app=False)
    yield handle
    handle.stop()


@pytest.fixture
def rt(aws: None, gateway: GatewayHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[Realtime]:
    monkeypatch.setenv("BORGOS_WEBSOCKET_ENDPOINT", gateway.management_url)
    reset_settings()
    stream = StreamReader(
        aws_clients.client("dynamodb"), aws_clients.client("dynamodbstreams"), get_settings().table_name
    )
    yield Realtime(gateway, stream)
    _wait_for_disconnects()


def _wait_until_live(rt: Realtime) -> None:
    from chalicelib.realtime import connections

    (connection_id,) = rt.gateway.gateway.connection_ids
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        subscriptions = connections.subscriptions(connection_id)
        if subscriptions and all(s["state"] == "live" for s in subscriptions.values()):
            return
        time.sleep(0.01)
    raise AssertionError("the subscription did not go live")


def _wait_for_disconnects() -> None:
    """$disconnect runs after a client's close: let this test's run before its table goes away."""
    client = aws_clients.client("dynamodb")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = client.scan(
            TableName=get_settings().table_name,
            FilterExpression="entity = :e",
            ExpressionAttributeValues={":e": {"S": "ws_connection"}},
        )["Count"]
        if not left:
            return
        time.sleep(0.02)


def _project(caller: Caller, name: str) -> dict[str, Any]:
    response = caller.post("/api/v1/projects", {"name": name, "path": f"/projects/{name}"})
    assert response.status_code == 201, response.body
    return dict(body(response))


# -- connecting ----------------------------------------------------------------------------------


def test_connect_refuses_missing_and_bad_tokens(rt: Realtime) -> None:
    for url in (rt.gateway.ws_url, f"{rt.gateway.ws_url}?token=borg_nope"):
        with pytest.raises(InvalidStatus) as refused:
            connect(url, open_timeout=10)
        assert refused.value.response.status_code == 401
    assert os.environ["BORGOS_WEBSOCKET_ENDPOINT"]


def test_failed_connects_are_limited_per_source_address_like_requests(
    rt: Realtime, alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BORGOS_RATE_LIMIT_BURST", "3")
    monkeypatch.setenv("BORGOS_RATE_LIMIT_PER_MINUTE", "1")
    reset_settings()
    statuses = []
    for _ in range(2):  # guesses on the WebSocket ...
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{rt.gateway.ws_url}?token=borg_guess", open_timeout=10)
        statuses.append(refused.value.response.status_code)
    # ... and on the REST API spend one budget per source address
    guessed = alice.client.http.get("/api/v1/projects", headers={"Authorization": "Bearer borg_guess"})
    statuses.append(guessed.status_code)
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{rt.gateway.ws_url}?token=borg_guess", open_timeout=10)
    statuses.append(refused.value.response.status_code)
    assert statuses == [401, 401, 401, 429]
    assert json.loads(refused.value.response.body)["code"] == "RATE_LIMITED"


def test_connect_with_bearer_subprotocol_selects_it(rt: Realtime, alice: Caller) -> None:
    protocol = f"bearer.{alice.token}"
    with connect(rt.gateway.ws_url, subprotocols=[protocol], open_timeout=10) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == protocol
        assert_nothing_more(ws)


def test_protocol_errors_are_answered_and_the_connection_stays(rt: Realtime, alice: Caller) -> None:
    with rt.socket(alice.token) as ws:
        ws.send("not json")
        assert recv(ws)["code"] == "BAD_MESSAGE"
        send(ws, {"type": "shout"})
        assert recv(ws)["code"] == "UNKNOWN_TYPE"
        send(ws, {"type": "subscribe", "channels": ["gossip"]})
        reply = recv(ws)
        assert (
            reply["type"] == "error" and reply["code"] == "VALIDATION_ERROR" and "gossip" in reply["message"]
        )
        send(ws, {"type": "subscribe", "channels": ["projects"], "since": 5})
        assert recv(ws)["code"] == "BAD_SINCE"
        assert_nothing_more(ws)


# -- live events ---------------------------------------------------------------------------------


def test_a_committed_change_reaches_subscribers_in_the_reference_shape(rt: Realtime, alice: Caller) -> None:
    with rt.socket(alice.token) as ws:
        assert subscribe(ws, ["projects", "deployments"]) == {
            "type": "subscribed",
            "channels": ["deployments", "projects"],
            "seq": 0,
        }
        project = _project(alice, "NewProject")
        rt.pump()
        event = recv(ws)
        assert event["type"] == "project_created"
        assert event["data"]["id"] == project["id"] and event["data"]["name"] == "NewProject"
        assert (event["seq"], event["channel"]) == (1, "projects")
        assert event["timestamp"].endswith("Z")
        assert_nothing_more(ws)


def test_tenants_never_see_each_others_events(rt: Realtime, alice: Caller, bob: Caller) -> None:
    with rt.socket(alice.token) as alice_ws, rt.socket(bob.token) as bob_ws:
        subscribe(alice_ws, ["projects"])
        subscribe(bob_ws, ["projects"])
        _project(bob, "bobs")
        rt.pump()
        assert recv(bob_ws)["data"]["name"] == "bobs"
        assert_nothing_more(alice_ws)
        assert_nothing_more(bob_ws)


def test_only_subscribed_channels_are_sent_and_unsubscribe_stops_them(rt: Realtime, alice: Caller) -> None:
    with rt.socket(alice.token) as ws:
        subscribe(ws, ["errors"])
        _project(alice, "quiet")
        rt.pump()
        assert_nothing_more(ws)
        subscribe(ws, ["projects"])
        send(ws, {"type": "unsubscribe", "channels": ["projects"]})
        assert recv(ws) == {"type": "subscribed", "channels": ["errors"], "seq": 1}
        _project(alice, "still-quiet")
        rt.pump()
        assert_nothing_more(ws)


def test_a_retried_batch_sends_nothing_twice(rt: Realtime, alice: Caller) -> None:
    from app import on_table_change

    with rt.socket(alice.token) as ws:
        subscribe(ws, ["projects"])
        _project(alice, "once")
        records = rt.pump()
        on_table_change({"Records": records}, None)  # Lambda retrying the same batch
        assert recv(ws)["seq"] == 1
        assert_nothing_more(ws)


def test_a_failed_post_fails_the_batch_and_the_retry_delivers_once(
    rt: Realtime, alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app import on_table_change
    from chalicelib.realtime import fanout, sender

    real_send = sender.send
    calls: list[str] = []

    def flaky(endpoint: str, connection_id: str, data: bytes) -> None:
        calls.append(connection_id)
        if len(calls) == 2:  # the second event of the batch
            raise ConnectionResetError("network blip")
        real_send(endpoint, connection_id, data)

    with rt.socket(alice.token) as ws:
        subscribe(ws, ["projects"])
        _wait_until_live(rt)  # `subscribed` comes first; the switch to live follows the (empty) replay
        _project(alice, "first")
        _project(alice, "second")
        records = rt.stream.drain()
        monkeypatch.setattr(sender, "send", flaky)
        with pytest.raises(fanout.FanOutIncomplete):
            on_table_change({"Records": records}, None)
        on_table_change({"Records": records}, None)
        assert [recv(ws)["seq"], recv(ws)["seq"]] == [1, 2]
        assert_nothing_more(ws)


def test_batches_handed_over_out_of_order_skip_nothing(rt: Realtime, alice: Caller) -> None:
    from app import on_table_change

    with rt.socket(alice.token) as ws:
        subscribe(ws, ["projects"])
        _project(alice, "first")
        _project(alice, "second")
        records = rt.stream.drain()

        def for_event(seq: int) -> list[dict[str, Any]]:
            return [r for r in records if r["dynamodb"]["Keys"]["SK"]["S"] == f"EVENT#{seq:015d}"]

        on_table_change({"Records": for_event(2)}, None)  # another shard's later batch comes first
        assert [recv(ws)["seq"], recv(ws)["seq"]] == [1, 2]
        on_table_change({"Records": for_event(1)}, None)
        assert_nothing_more(ws)


def test_gone_connections_are_forgotten(rt: Realtime, alice: Caller) -> None:
    from chalicelib.realtime import connections

    connections.save_connection("gone-conn", "alice", "token:1", rt.gateway.management_url)
    conn = connections.get_connection("gone-conn")
    assert conn is not None
    connections.add_subscriptions(conn, ["projects"], 0)
    assert connections.go_live(conn, ["projects"], 0)
    _project(alice, "x")
    rt.pump()
    assert connections.get_connection("gone-conn") is None
    assert connections.subscriptions("gone-conn") == {}


def test_disconnect_removes_the_connection_and_its_subscriptions(rt: Realtime, alice: Caller) -> None:
    from chalicelib.realtime import connections

    with rt.socket(alice.token) as ws:
        subscribe(ws, ["projects", "errors"])
        (connection_id,) = rt.gateway.gateway.connection_ids
        assert set(connections.subscriptions(connection_id)) == {"projects", "errors"}
    deadline = time.monotonic() + 5  # $disconnect runs after the close handshake: poll its effect
    while connections.get_connection(connection_id) is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert connections.get_connection(connection_id) is None
    assert connections.subscriptions(connection_id) == {}


# -- since ---------------------------------------------------------------------------------------


def test_since_replays_what_was_missed_then_continues_live(rt: Realtime, alice: Caller) -> None:
    with rt.socket(alice.token) as ws:
        subscribe(ws, ["projects"])
        _project(alice, "p1")
        rt.pump()
        last_seen = recv(ws)["seq"]
    _project(alice, "p2")
    errors_in_between = alice.post(
        "/api/v1/errors", {"project_id": 1, "error_type": "x", "severity": "critical", "message": "m"}
    )
    assert errors_in_between.status_code in (200, 201)
    _project(alice, "p3")
    rt.pump()  # nobody is listening: nothing to send
    with rt.socket(alice.token) as ws:
        assert subscribe(ws, ["projects"], since=last_seen)["seq"] == last_seen
        replayed = [recv(ws), recv(ws)]
        assert [(e["seq"], e["data"]["name"]) for e in replayed] == [(2, "p2"), (4, "p3")]
        _project(alice, "p4")
        rt.pump()
        assert recv(ws)["seq"] == 5
        assert_nothing_more(ws)


def test_an_event_committed_during_the_replay_arrives_exactly_once(
    rt: Realtime, alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the switch to live guards against: a commit between reading the log and going live."""
    from chalicelib.realtime import connections

    _project(alice, "before")
    rt.pump()
    real_between = connections.events_between
    raced: list[int] = []

    def racing(tenant: str, after: int, upto: int, channels: list[str]) -> list[dict[str, Any]]:
        found = real_between(tenant, after, upto, channels)
        if not raced:
            raced.append(1)
            _project(alice, "racing")  # commits seq 2 after the replay read the sequence (1)
        return found

    monkeypatch.setattr(connections, "events_between", racing)
    with rt.socket(alice.token) as ws:
        subscribe(ws, ["projects"], since=0)
        assert [recv(ws)["seq"], recv(ws)["seq"]] == [1, 2]
        rt.pump()  # the racing event's own fan-out must not send it again
        assert_nothing_more(ws)


# -- rate limit ----------------------------------------------------------------------------------


def test_over_ten_messages_a_second_gets_an_error_then_the_close(
    rt: Realtime, alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import clock

    monkeypatch.setattr(clock, "epoch", lambda: 1_800_000_000.0)  # all within the same instant
    with rt.socket(alice.token) as ws:
        for _ in range(11):
            send(ws, {"type": "ping"})
        assert [recv(ws) for _ in range(10)] == [{"type": "pong"}] * 10
        assert recv(ws)["code"] == "RATE_LIMITED"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)


def test_a_second_connection_has_its_own_budget(rt: Realtime, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib import clock

    monkeypatch.setattr(clock, "epoch", lambda: 1_800_000_000.0)
    token = issue("carol", ["read"])
    with rt.socket(token) as first, rt.socket(token) as second:
        for _ in range(10):
            send(first, {"type": "ping"})
        assert [recv(first) for _ in range(10)] == [{"type": "pong"}] * 10
        assert_nothing_more(second)
