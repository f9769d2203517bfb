"""Boto3 clients, created once and lazily (cold start is measured), endpoints from the settings."""

from __future__ import annotations

from functools import cache
from typing import Any

from chalicelib.config import get_settings


@cache
def client(service: str) -> Any:
    import boto3  # deferred: importing app must not pay for boto3 until a request needs AWS
    from botocore.config import Config

    settings = get_settings()
    endpoints = {
        "dynamodb": settings.dynamodb_endpoint,
        "dynamodbstreams": settings.dynamodb_endpoint,
        "s3": settings.s3_endpoint,
    }
    factory: Any = boto3.session.Session().client
    return factory(
        service,
        region_name=settings.region,
        endpoint_url=endpoints.get(service) or None,
        config=Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=3, read_timeout=10),
    )


def reset_clients() -> None:
    client.cache_clear()
