"""AWS clients, created once and lazily (cold start is measured), endpoints from the settings.

Built from botocore's session directly: boto3's own import pulls in s3transfer and its resource
layer, ~80 ms of cold start the API never uses; the clients are the same botocore clients."""

from __future__ import annotations

from functools import cache
from typing import Any

from chalicelib.config import get_settings


@cache
def client(service: str) -> Any:
    from botocore.config import Config  # deferred: importing app must not pay for botocore

    settings = get_settings()
    endpoints = {
        "dynamodb": settings.dynamodb_endpoint,
        "dynamodbstreams": settings.dynamodb_endpoint,
        "s3": settings.s3_endpoint,
    }
    factory: Any = _session().create_client
    return factory(
        service,
        region_name=settings.region,
        endpoint_url=endpoints.get(service) or None,
        config=Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=3, read_timeout=10),
    )


@cache
def management_api(endpoint_url: str) -> Any:
    """An API Gateway `@connections` client for one WebSocket API endpoint (`https://{domain}/{stage}`,
    or the local gateway's management URL). Cached per endpoint: fan-out posts through it from threads."""
    from botocore.config import Config

    factory: Any = _session().create_client
    return factory(
        "apigatewaymanagementapi",
        region_name=get_settings().region,
        endpoint_url=endpoint_url,
        config=Config(
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=3,
            read_timeout=10,
            max_pool_connections=get_settings().fanout_workers,
        ),
    )


@cache
def _session() -> Any:
    import botocore.session

    return botocore.session.get_session()


def reset_clients() -> None:
    """Forget clients and the session (tests and tools that swap endpoints or mocks)."""
    client.cache_clear()
    management_api.cache_clear()
    _session.cache_clear()
