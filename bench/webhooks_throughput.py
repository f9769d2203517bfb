"""Deliveries per second to a local receiver: `deliver` (resolve + sign + record) vs raw httpx posts.

Run from the repository root:  python -m bench.webhooks_throughput --count 2000
Both paths post the same body to the same loopback receiver over one keep-alive client, in the same
run, so the difference is the cost of the webhook machinery itself.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from chalicelib.webhooks.models import WebhookEndpoint, WebhookMessage
from chalicelib.webhooks.retry import Action
from chalicelib.webhooks.signing import generate_secret
from tests.support.webhook_receiver import WebhookReceiver
from workers.webhook_delivery import deliver, make_client


def _rate(count: int, send: Callable[[], None]) -> float:
    started = time.perf_counter()
    for _ in range(count):
        send()
    return count / (time.perf_counter() - started)


def run(count: int) -> dict[str, float]:
    logging.getLogger("borgos").setLevel(logging.ERROR)  # per-attempt logs would dominate the timing
    message = WebhookMessage(
        type="deployment.succeeded",
        timestamp=datetime.now(UTC),
        data={"deployment_id": 1, "status": "running"},
    )
    body = message.body()
    with WebhookReceiver() as receiver, make_client() as client:
        endpoint = WebhookEndpoint(id="wh_bench", url=receiver.url(), secret=generate_secret(), events=["*"])

        def raw_post() -> None:
            client.post(
                receiver.url(), content=body, headers={"content-type": "application/json"}
            ).raise_for_status()

        def webhook() -> None:
            result = deliver(endpoint, message, client=client, allow_private=True)
            if result.action is not Action.SUCCESS:
                raise RuntimeError(result.record.error)

        for send in (raw_post, webhook):  # warm up connections and code paths
            _rate(min(50, count), send)
        raw = _rate(count, raw_post)
        delivered = _rate(count, webhook)
        receiver.wait_for(2 * (count + min(50, count)))
    return {
        "count": count,
        "raw_httpx_per_s": round(raw, 1),
        "deliver_per_s": round(delivered, 1),
        "overhead_ratio": round(raw / delivered, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    sys.stdout.write(json.dumps(run(parser.parse_args().count)) + "\n")


if __name__ == "__main__":
    main()
