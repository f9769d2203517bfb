"""One RQ worker process of a host (started by workers.host; not meant to be run by hand)."""

from __future__ import annotations

import argparse
import importlib
import logging

# RQ forks a child per job; modules the parent has imported are inherited, so the job modules (and
# chalicelib with pydantic and botocore under them) are loaded once here instead of once per job.
PRELOAD = (
    "workers.webhook_jobs",
    "workers.deploy_jobs",
    "workers.scan_jobs",
    "workers.agent_jobs",
    "workers.scheduler_jobs",
    "workers.host_jobs",
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("queues", nargs="+")
    args = parser.parse_args(argv)

    import redis
    from rq import Worker

    logging.basicConfig(level=logging.WARNING)
    for module in PRELOAD:
        importlib.import_module(module)
    # Creating a botocore client opens no connection, so children inherit a ready client and each
    # opens its own sockets; without this every job pays the client's construction again.
    from chalicelib import aws

    aws.client("dynamodb")
    connection = redis.Redis.from_url(args.redis_url)
    worker = Worker(args.queues, name=args.name, connection=connection)
    worker.work(with_scheduler=True, logging_level="WARNING")


if __name__ == "__main__":
    main()
