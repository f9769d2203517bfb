"""One RQ worker process of a host (started by workers.host; not meant to be run by hand)."""

from __future__ import annotations

import argparse
import logging


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("queues", nargs="+")
    args = parser.parse_args(argv)

    import redis
    from rq import Worker

    logging.basicConfig(level=logging.WARNING)
    connection = redis.Redis.from_url(args.redis_url)
    worker = Worker(args.queues, name=args.name, connection=connection)
    worker.work(with_scheduler=True, logging_level="WARNING")


if __name__ == "__main__":
    main()
