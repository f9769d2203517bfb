"""Commit-to-receipt latency of the realtime fan-out on many sockets, against sending the same frame
to the same sockets directly, in the same run.

Run from the repository root:  python -m bench.realtime_fanout --sockets 1000 --rounds 5

Everything is real except DynamoDB (moto in process; its actions run one at a time and its Queries
read the whole table, so DynamoDB calls dominate the fan-out figure and setting up 1,000 sockets
takes many minutes here; the direct baseline makes no DynamoDB calls): the local API Gateway
emulator serves the app's WebSocket handlers, N `websockets` clients subscribe to `projects`, a
project is created (one committed transaction with its event) and the stream records are handed to
the app's stream handler at once (Lambda's polling delay is not part of this). Latency per socket =
receipt time - commit time. The baseline posts the same frame to the same connections through the
`@connections` API with the same thread count, without the fan-out (no index query, no claims).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from bench.common import percentile


class Clients:
    """N WebSocket clients on one event loop in a background thread, recording receipt times."""

    def __init__(self, url: str, count: int) -> None:
        self.url, self.count = url, count
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.sockets: list[Any] = []
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.expected = 0

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self.loop).result(timeout=3600)

    async def _open(self) -> None:
        from websockets.asyncio.client import connect

        for start in range(0, self.count, 50):  # in waves: the emulator runs $connect in 16 threads
            batch = await asyncio.gather(
                *(connect(self.url, open_timeout=60) for _ in range(start, min(self.count, start + 50)))
            )
            self.sockets.extend(batch)
        for start in range(0, self.count, 25):  # in waves: moto serializes every DynamoDB call
            wave = self.sockets[start : start + 25]
            for ws in wave:
                await ws.send(json.dumps({"type": "subscribe", "channels": ["projects"]}))
            replies = await asyncio.gather(*(ws.recv() for ws in wave))
            refused = [r for r in replies if json.loads(r).get("type") != "subscribed"]
            if refused:
                raise RuntimeError(f"{len(refused)} subscriptions failed, e.g. {refused[0]}")
            sys.stderr.write(f"\r{start + len(wave)} of {self.count} subscribed")
        for ws in self.sockets:
            self.loop.create_task(self._read(ws))

    async def _read(self, ws: Any) -> None:
        async for raw in ws:
            now = time.perf_counter()
            with self.lock:
                self.received.append((now, json.loads(raw)))
                if len(self.received) >= self.expected:
                    self.done.set()

    def expect(self, count: int) -> None:
        with self.lock:
            self.received.clear()
            self.expected = count
            self.done.clear()

    def close(self) -> None:
        async def _close() -> None:
            await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)

        asyncio.run_coroutine_threadsafe(_close(), self.loop).result(timeout=120)
        self.loop.call_soon_threadsafe(self.loop.stop)


def run(sockets: int, rounds: int) -> dict[str, Any]:
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    os.environ.update(
        BORGOS_TABLE="borgos-bench",
        POWERTOOLS_LOG_LEVEL=os.environ.get("POWERTOOLS_LOG_LEVEL", "ERROR"),
        AWS_ACCOUNT_ID_ENDPOINT_MODE="disabled",
    )
    logging.getLogger("botocore").setLevel(logging.ERROR)
    from moto import mock_aws

    from app import app, on_table_change
    from chalicelib import aws, projects
    from chalicelib.config import get_settings, reset_settings
    from chalicelib.models.projects import ProjectCreate
    from chalicelib.models.tokens import TokenCreate
    from chalicelib.realtime import connections, sender
    from chalicelib.tokens import issue_token
    from infra.local import moto_patches
    from infra.local.ws_gateway import GatewaySettings, run_in_thread
    from infra.table import create_table
    from tests.support.streams import StreamReader

    moto_patches.apply()
    with mock_aws():
        create_table(aws.client("dynamodb"), "borgos-bench")
        gateway = run_in_thread(
            app, configure_app=False, settings=GatewaySettings(handler_workers=32, integration_timeout=120)
        )
        os.environ["BORGOS_WEBSOCKET_ENDPOINT"] = gateway.management_url
        reset_settings()
        token = issue_token("bench", TokenCreate(name="bench", scopes=["read", "write"])).token
        clients = Clients(f"{gateway.ws_url}?token={token}", sockets)
        started = time.perf_counter()
        clients.start()
        setup_s = time.perf_counter() - started
        stream = StreamReader(
            aws.client("dynamodb"), aws.client("dynamodbstreams"), get_settings().table_name
        )
        stream.drain()
        fanout_ms: list[float] = []
        direct_ms: list[float] = []
        ids = [s.connection_id for s in connections.subscribers("bench", "projects")]
        assert len(ids) == sockets, f"{len(ids)} of {sockets} subscribed"
        pool = ThreadPoolExecutor(max_workers=get_settings().fanout_workers)
        for round_ in range(rounds):
            # The fan-out path: commit, stream records straight to the handler.
            clients.expect(sockets)
            projects.create_project("bench", ProjectCreate(name=f"p{round_}", path=f"/p/{round_}"))
            committed = time.perf_counter()
            on_table_change({"Records": stream.drain()}, None)
            if not clients.done.wait(600):
                raise RuntimeError(f"only {len(clients.received)} of {sockets} frames arrived")
            fanout_ms.extend((at - committed) * 1000 for at, _ in clients.received)
            frame = json.dumps(clients.received[0][1]).encode()
            # The baseline: the same frame, the same sockets, posted directly.
            clients.expect(sockets)
            began = time.perf_counter()
            list(pool.map(partial(sender.send, gateway.management_url, data=frame), ids))
            if not clients.done.wait(600):
                raise RuntimeError("direct sends did not all arrive")
            direct_ms.extend((at - began) * 1000 for at, _ in clients.received)
        clients.close()
        gateway.stop()
    result = {
        "sockets": sockets,
        "rounds": rounds,
        "setup_s": round(setup_s, 1),
        "fanout_p50_ms": round(percentile(fanout_ms, 50), 1),
        "fanout_p99_ms": round(percentile(fanout_ms, 99), 1),
        "direct_p50_ms": round(percentile(direct_ms, 50), 1),
        "direct_p99_ms": round(percentile(direct_ms, 99), 1),
    }
    result["p50_ratio"] = round(result["fanout_p50_ms"] / result["direct_p50_ms"], 2)
    result["p99_ratio"] = round(result["fanout_p99_ms"] / result["direct_p99_ms"], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sys.stdout.write(json.dumps(run(args.sockets, args.rounds)) + "\n")


if __name__ == "__main__":
    main()
