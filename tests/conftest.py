"""Shared fixtures: moto in process for unit tests (integration tests have their own stack)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
# botocore addresses streams by account-based endpoints, which in-process moto does not route.
os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh in-process DynamoDB with the BorgOS table, and the store pointed at it."""
    from moto import mock_aws

    from chalicelib import aws as aws_clients
    from chalicelib.config import reset_settings
    from chalicelib.store.table import reset_store
    from infra.local import moto_patches
    from infra.table import create_table

    moto_patches.apply()
    for name in ("BORGOS_DYNAMODB_ENDPOINT", "BORGOS_S3_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BORGOS_TABLE", "borgos-test")
    reset_settings()
    aws_clients.reset_clients()
    reset_store()
    with mock_aws():
        create_table(aws_clients.client("dynamodb"), "borgos-test")
        yield
    reset_store()
    aws_clients.reset_clients()
    reset_settings()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server on a free port: tests never share queues with anything else."""
    from tests.support.local_services import private_redis

    with private_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def redis_queue(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The app's settings pointed at the private Redis, emptied before each test."""
    import redis

    from chalicelib import jobs
    from chalicelib.config import reset_settings

    redis.Redis.from_url(redis_url).flushdb()
    monkeypatch.setenv("BORGOS_REDIS_URL", redis_url)
    reset_settings()
    jobs.redis_connection.cache_clear()
    yield redis_url
    jobs.redis_connection.cache_clear()


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """With `--dist loadgroup`: integration tests on one worker (one local stack), Docker tests on one."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from tests.support.xdist_groups import StackGroupScheduling

    return StackGroupScheduling(config, log)
