"""Job requests: work that must run on a worker host (a deploy, a scan, a webhook delivery) is
requested by writing a JOB item in the same transaction as the change that needs it (an outbox).
The table's stream turns each new request into an RQ job whose id is the request's id, so nothing
is enqueued for a change that did not commit, and a retried stream batch does not enqueue twice.
The request path never talks to Redis."""

from __future__ import annotations

import uuid
from datetime import timedelta
from functools import cache
from typing import Any

from chalicelib import clock
from chalicelib.config import get_settings
from chalicelib.logs import logger
from chalicelib.store.table import Tx

KIND = "JOB"
SHARED_QUEUE = "default"
REQUEST_TTL = timedelta(days=7)


def host_queue(host: str) -> str:
    """The queue only the named worker host listens on."""
    return f"host.{host}"


def request_job(
    tx: Tx,
    *,
    function: str,
    kwargs: dict[str, Any],
    queue: str = SHARED_QUEUE,
    job_id: str | None = None,
    timeout_seconds: int = 900,
) -> str:
    """Add a job request to a change being built; returns the job id. `function` is the dotted path
    of a function in `workers/` (the Lambda never imports it: RQ resolves it on the worker)."""
    if not function.startswith("workers."):
        raise ValueError("jobs run functions of the workers package")
    # RQ ids take letters, digits, "_" and "-" only.
    job_id = job_id or f"{tx.tenant}-{uuid.uuid4().hex}"
    tx.put(
        {
            "PK": tx.pk,
            "SK": f"{KIND}#{job_id}",
            "entity": "job",
            "tenant": tx.tenant,
            "job_id": job_id,
            "function": function,
            "kwargs": kwargs,
            "queue": queue,
            "timeout_seconds": timeout_seconds,
            "requested_at": clock.iso(tx.now),
            "expires_at": int((tx.now + REQUEST_TTL).timestamp()),
        },
        create_only=True,
    )
    return job_id


@cache
def redis_connection() -> Any:
    import redis

    return redis.Redis.from_url(get_settings().redis_url, socket_connect_timeout=3, socket_timeout=10)


def enqueue(request: dict[str, Any]) -> bool:
    """Put one job request on its RQ queue unless a job with its id exists already."""
    from rq import Queue
    from rq.job import Job

    connection = redis_connection()
    if Job.exists(request["job_id"], connection=connection):
        return False
    Queue(request["queue"], connection=connection).enqueue(
        request["function"],
        kwargs=request["kwargs"],
        job_id=request["job_id"],
        job_timeout=int(request.get("timeout_seconds", 900)),
        result_ttl=86400,
        failure_ttl=7 * 86400,
    )
    logger.info("job enqueued", extra={"job_id": request["job_id"], "function": request["function"]})
    return True
