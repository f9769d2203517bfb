"""The app's non-HTTP event sources, locally: a stream pump per `@app.on_dynamodb_record` handler
and the `@app.schedule` emulation, calling the handlers Chalice registered the way Lambda would
(`app.handler_map[name](event, context)`). Run as `python -m infra.local.triggers` (the stack
supervisor does, with `app_environment`); writes `run/triggers.ready` once every pump is attached."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from aws_lambda_powertools import Logger

from infra.local.config import StackConfig, parse_args
from infra.local.pump import PositionFile, StreamPump
from infra.local.schedules import ScheduleEmulator
from workers.stop_signals import set_on_signals

logger = Logger(service="borgos-local-triggers")


def invoker(app: Any, handler_name: str) -> Any:
    """Call one of the app's registered handlers with a Lambda-like context."""
    from chalice.local import LambdaContext

    handler = app.handler_map[handler_name]

    def invoke(event: dict[str, Any]) -> Any:
        context = LambdaContext(
            function_name=f"{app.app_name}-local-{handler_name}", memory_size=512, max_runtime_ms=900_000
        )
        return handler(event, context)

    return invoke


def _batch_deliverer(invoke: Callable[[dict[str, Any]], Any]) -> Callable[[list[dict[str, Any]]], None]:
    def deliver(records: list[dict[str, Any]]) -> None:
        invoke({"Records": records})

    return deliver


def stream_pumps(app: Any, config: StackConfig, table: str) -> list[StreamPump]:
    """One pump (own position file) per `@app.on_dynamodb_record` handler."""
    from chalice.app import DynamoDBEventConfig

    from chalicelib import aws

    pumps = []
    for source in app.event_sources:
        if not isinstance(source, DynamoDBEventConfig):
            continue
        invoke = invoker(app, source.name)
        pumps.append(
            StreamPump(
                dynamodb=aws.client("dynamodb"),
                streams=aws.client("dynamodbstreams"),
                table=table,
                deliver=_batch_deliverer(invoke),
                positions=PositionFile(config.run_dir / f"pump-{source.name}.json"),
                batch_size=source.batch_size,
            )
        )
    return pumps


def main(argv: Sequence[str] | None = None) -> int:
    from app import app
    from chalicelib.config import get_settings

    config = parse_args(argv, "python -m infra.local.triggers")
    stop = threading.Event()
    set_on_signals(stop)

    pumps = stream_pumps(app, config, get_settings().table_name)
    for pump in pumps:
        pump.attach()
    schedules = ScheduleEmulator.for_app(app, lambda name, event: invoker(app, name)(event))
    threads = [
        threading.Thread(target=pump.run, args=(stop,), name=f"pump-{i}", daemon=True)
        for i, pump in enumerate(pumps)
    ]
    threads.append(threading.Thread(target=schedules.run, args=(stop,), name="schedules", daemon=True))
    for thread in threads:
        thread.start()
    config.run_dir.mkdir(parents=True, exist_ok=True)
    (config.run_dir / "triggers.ready").write_text(str(len(pumps)))
    logger.info("triggers ready", pumps=len(pumps), schedules=len(schedules.schedules))
    stop.wait()
    for thread in threads:  # a batch in flight finishes; its position is saved
        thread.join(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
