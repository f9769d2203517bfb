"""The local stack's AWS: a moto server (DynamoDB, DynamoDB Streams, S3) with BorgOS's table and
bucket, restored from the last snapshot on start and snapshotted every few seconds and on exit.

moto's backends are not thread-safe, so every request goes through one lock (`SerializedApp`);
the snapshot takes the same lock, which makes it a consistent point in time. Run as
`python -m infra.local.moto_server` (the stack supervisor does); it writes `run/moto.ready` once
the table, the bucket and the restored data are in place."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aws_lambda_powertools import Logger

from infra.local import snapshot, ttl
from infra.local.config import StackConfig, parse_args
from workers.stop_signals import set_on_signals

logger = Logger(service="borgos-local-moto")

# DynamoDB operations that change state (everything else the stack sends is a read).
WRITE_OPERATIONS = frozenset(
    {
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "CreateTable",
        "DeleteTable",
        "UpdateTable",
        "UpdateTimeToLive",
        "ExecuteStatement",
        "BatchExecuteStatement",
        "ExecuteTransaction",
        "RestoreTableFromBackup",
        "ImportTable",
    }
)


def is_write(environ: dict[str, Any]) -> bool:
    """Whether a request may change the emulated state (then the next snapshot is due)."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1] in WRITE_OPERATIONS
    return environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD", "OPTIONS")


class SerializedApp:
    """A WSGI app that lets one request at a time into moto and notes when state may have changed."""

    def __init__(self, app: Callable[..., Iterable[bytes]], lock: threading.Lock | None = None) -> None:
        self.app = app
        self.lock = lock or threading.Lock()
        self.dirty = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            if is_write(environ):
                self.dirty.set()
            # The body is produced under the lock too: moto may build it lazily from its state.
            return list(self.app(environ, start_response))

    def expire_ttl(self, now: float) -> int:
        """What DynamoDB's TTL does (infra/local/ttl.py), between two requests."""
        from moto.dynamodb.models import dynamodb_backends

        with self.lock:
            removed = ttl.expire_due(dynamodb_backends, now)
            if removed:
                self.dirty.set()
        return removed


class Snapshotter:
    """Writes a snapshot when something changed since the last one."""

    def __init__(self, app: SerializedApp, config: StackConfig, table: str, bucket: str) -> None:
        self.app = app
        self.config = config
        self.table = table
        self.bucket = bucket

    def save_if_dirty(self) -> bool:
        if not self.app.dirty.is_set():
            return False
        with self.app.lock:
            self.app.dirty.clear()
            state = snapshot.capture(self.table, self.bucket)
        try:
            snapshot.write_atomic(self.config.snapshot_path, snapshot.encode(state))
        except BaseException:
            self.app.dirty.set()  # try again next time
            raise
        logger.debug("snapshot written", items=len(state["items"]), objects=len(state["objects"]))
        return True


def _clients(config: StackConfig) -> tuple[Any, Any]:
    import botocore.session

    session = botocore.session.get_session()
    common: dict[str, Any] = {
        "region_name": "us-east-1",
        "endpoint_url": config.moto_url,
        "aws_access_key_id": "local",
        "aws_secret_access_key": "local",
    }
    return session.create_client("dynamodb", **common), session.create_client("s3", **common)


def prepare(config: StackConfig, table: str, bucket: str) -> None:
    """Create the table (infra/table.py, as deployed) and the bucket, then restore the snapshot."""
    from infra.table import create_table

    dynamodb, s3 = _clients(config)
    create_table(dynamodb, table)
    if bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=bucket)
    saved = snapshot.load(config.snapshot_path)
    if saved:
        snapshot.restore(saved, dynamodb, s3, table, bucket)
        logger.info("snapshot restored", items=len(saved["items"]), objects=len(saved["objects"]))


def main(argv: Sequence[str] | None = None) -> int:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from chalicelib.config import get_settings
    from infra.local import moto_patches

    config = parse_args(argv, "python -m infra.local.moto_server")
    settings = get_settings()
    moto_patches.apply()
    app = SerializedApp(DomainDispatcherApplication(create_backend_app))

    class QuietHandler(MotoRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            if str(code).startswith("5"):
                super().log_request(code, size)

    server = make_server(config.host, config.moto_port, app, threaded=True, request_handler=QuietHandler)
    serving = threading.Thread(target=server.serve_forever, name="moto-server", daemon=True)
    serving.start()
    stop = threading.Event()
    set_on_signals(stop)

    snapshots = Snapshotter(app, config, settings.table_name, settings.bucket_name)
    prepared = False
    try:
        prepare(config, settings.table_name, settings.bucket_name)
        app.dirty.clear()  # the state is the snapshot's
        prepared = True
        config.run_dir.mkdir(parents=True, exist_ok=True)
        (config.run_dir / "moto.ready").write_text(config.moto_url)
        logger.info("moto ready", url=config.moto_url, table=settings.table_name)
        while not stop.wait(config.snapshot_interval):
            try:
                if expired := app.expire_ttl(time.time()):
                    logger.info("ttl expired items", items=expired)
                snapshots.save_if_dirty()
            except Exception:
                logger.exception("ttl sweep or snapshot failed; will retry")
    finally:
        server.shutdown()
        # A half-done restore must never overwrite the snapshot it came from.
        if prepared:
            snapshots.save_if_dirty()
            logger.info("moto stopped; final snapshot written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
