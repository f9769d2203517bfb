"""At most one job in flight per deployment: a Redis lock with a short lease that a background thread
renews while the job runs. A worker that dies stops renewing, so its lease runs out within
LEASE_SECONDS and the next job (or reconcile) may proceed."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from redis.exceptions import LockError, RedisError
from redis.lock import Lock

LEASE_SECONDS = 30.0
RENEW_EVERY_SECONDS = 10.0


class LockBusy(RuntimeError):
    """Another job holds the deployment."""


def lock_name(tenant: str, deployment_id: int) -> str:
    return f"borgos:lock:deployment:{tenant}:{deployment_id}"


def is_locked(connection: Any, tenant: str, deployment_id: int) -> bool:
    return bool(connection.exists(lock_name(tenant, deployment_id)))


@contextmanager
def deployment_lock(
    connection: Any,
    tenant: str,
    deployment_id: int,
    *,
    wait_seconds: float = 0.0,
    lease_seconds: float = LEASE_SECONDS,
) -> Iterator[None]:
    """Hold the deployment for the block; LockBusy when another job holds it past `wait_seconds`."""
    lock = Lock(connection, lock_name(tenant, deployment_id), timeout=lease_seconds, thread_local=False)
    if not lock.acquire(blocking=wait_seconds > 0, blocking_timeout=wait_seconds or None):
        raise LockBusy(f"deployment {deployment_id} has a job in flight")
    stop = threading.Event()
    renew_every = min(RENEW_EVERY_SECONDS, lease_seconds / 3)

    def renew() -> None:
        while not stop.wait(renew_every):
            try:
                lock.reacquire()
            except (LockError, RedisError):  # lease lost (expired or taken)
                return

    renewer = threading.Thread(target=renew, name=f"lock-{deployment_id}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        with contextlib.suppress(LockError, RedisError):  # expired meanwhile: nothing of ours left
            lock.release()
