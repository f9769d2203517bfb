"""Webhook deliveries per second through real RQ worker processes, with 1 and with 4 workers, against
plain HTTP posts of the same body to the same receiver from one process, in the same run.

Run from the repository root:  python -m bench.realtime_webhooks --deliveries 400

Each delivery is the whole job: load the webhook from DynamoDB (a moto server), resolve and check
the target, sign, POST to a loopback receiver, record the attempt and the endpoint state in one
transaction. Jobs are enqueued as the stream handler enqueues them; the clock runs from the first
enqueue to the last request received.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx


def _deliveries_per_second(
    workers: int, count: int, env: dict[str, str], redis_url: str, hook: Any, receiver: Any
) -> float:
    from chalicelib import jobs
    from chalicelib.webhooks import service
    from tests.support.local_services import rq_workers

    already = len(receiver.requests)
    with rq_workers(workers, {**env, "BORGOS_ALLOW_PRIVATE_WEBHOOK_TARGETS": "true"}, redis_url):
        started = time.perf_counter()
        for n in range(count):
            message = {
                "id": f"msg_bench_{workers}_{n}",
                "type": "deployment.succeeded",
                "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "data": {"deployment_id": n, "status": "running"},
            }
            jobs.enqueue(service.job_request("bench", hook.id, message, 1))
        receiver.wait_for(already + count, timeout=600)
        return count / (time.perf_counter() - started)


def run(count: int) -> dict[str, Any]:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    logging.getLogger("botocore").setLevel(logging.ERROR)
    from chalicelib import jobs
    from chalicelib.config import reset_settings
    from chalicelib.webhooks import service
    from chalicelib.webhooks.models import WebhookCreate
    from tests.support.local_services import moto_table, private_redis
    from tests.support.webhook_receiver import WebhookReceiver

    with (
        tempfile.TemporaryDirectory() as workdir,
        private_redis(Path(workdir)) as redis_url,
        moto_table("borgos-bench") as env,
        WebhookReceiver() as receiver,
    ):
        os.environ.update(BORGOS_REDIS_URL=redis_url, BORGOS_ALLOW_PRIVATE_WEBHOOK_TARGETS="true")
        reset_settings()
        jobs.redis_connection.cache_clear()
        hook = service.create_webhook("bench", WebhookCreate(url=receiver.url(), events=["*"]))
        body = json.dumps({"type": "deployment.succeeded", "data": {"deployment_id": 1}}).encode()
        with httpx.Client() as client:
            started = time.perf_counter()
            for _ in range(count):
                client.post(receiver.url(), content=body, headers={"content-type": "application/json"})
            raw = count / (time.perf_counter() - started)
        one = _deliveries_per_second(1, count, env, redis_url, hook, receiver)
        four = _deliveries_per_second(4, count, env, redis_url, hook, receiver)
    return {
        "deliveries": count,
        "cpus": os.cpu_count(),
        "raw_post_per_s": round(raw, 1),
        "workers_1_per_s": round(one, 1),
        "workers_4_per_s": round(four, 1),
        "speedup_4_vs_1": round(four / one, 2),
        "raw_vs_1_worker": round(raw / one, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deliveries", type=int, default=400)
    sys.stdout.write(json.dumps(run(parser.parse_args().deliveries)) + "\n")


if __name__ == "__main__":
    main()
