"""Shared fixtures: moto in process for unit tests (integration tests have their own stack)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh in-process DynamoDB with the BorgOS table, and the store pointed at it."""
    from moto import mock_aws

    from chalicelib import aws as aws_clients
    from chalicelib.config import reset_settings
    from chalicelib.store.table import reset_store
    from infra.table import create_table

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
