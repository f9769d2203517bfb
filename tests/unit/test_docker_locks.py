from __future__ import annotations

import pytest
import redis

from workers.docker_locks import LockBusy, deployment_lock, is_locked


@pytest.fixture
def connection(redis_url: str) -> redis.Redis:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    return client


def test_one_job_per_deployment(connection: redis.Redis) -> None:
    with deployment_lock(connection, "acme", 1):
        assert is_locked(connection, "acme", 1)
        with pytest.raises(LockBusy), deployment_lock(connection, "acme", 1):
            pass
        with deployment_lock(connection, "acme", 2), deployment_lock(connection, "other", 1):
            pass  # other deployments and tenants are independent
    assert not is_locked(connection, "acme", 1)
    with deployment_lock(connection, "acme", 1):
        pass


def test_lease_is_renewed_while_held(connection: redis.Redis) -> None:
    with deployment_lock(connection, "acme", 3, lease_seconds=0.3):
        # Outlive several leases: the renewer keeps it ours.
        ttl_samples = []
        for _ in range(8):
            ttl_samples.append(connection.pttl("borgos:lock:deployment:acme:3"))
            connection.blpop(["borgos:test:never"], timeout=0.1)
        assert all(ttl > 0 for ttl in ttl_samples)
    assert not is_locked(connection, "acme", 3)


def test_an_abandoned_lease_expires(connection: redis.Redis) -> None:
    from redis.lock import Lock

    Lock(connection, "borgos:lock:deployment:acme:4", timeout=0.2).acquire()  # a worker that died
    with pytest.raises(LockBusy), deployment_lock(connection, "acme", 4):
        pass
    with deployment_lock(connection, "acme", 4, wait_seconds=2):
        assert is_locked(connection, "acme", 4)
