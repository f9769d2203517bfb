"""Posting frames to connections through API Gateway's `@connections` API (locally: the emulator's)."""

from __future__ import annotations

from typing import Any

from chalicelib import aws
from chalicelib.config import get_settings


class ConnectionGone(Exception):
    """The connection no longer exists (410 GoneException): forget it."""


def endpoint_for(request_context: dict[str, Any]) -> str:
    """Where the `@connections` API of this connection lives: the configured endpoint (local stack),
    else the API's own execute-api URL from the request context (AWS)."""
    configured = get_settings().websocket_endpoint
    if configured:
        return configured
    return f"https://{request_context['domainName']}/{request_context['stage']}"


def _gone(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    return (response.get("Error") or {}).get("Code") == "GoneException"


def send(endpoint: str, connection_id: str, data: bytes) -> None:
    """Post one frame; raises ConnectionGone, or the client's error for anything else (retryable)."""
    client = aws.management_api(endpoint)
    try:
        client.post_to_connection(ConnectionId=connection_id, Data=data)
    except client.exceptions.GoneException as exc:
        raise ConnectionGone(connection_id) from exc
    except Exception as exc:
        if _gone(exc):
            raise ConnectionGone(connection_id) from exc
        raise


def close(endpoint: str, connection_id: str) -> None:
    client = aws.management_api(endpoint)
    try:
        client.delete_connection(ConnectionId=connection_id)
    except Exception as exc:
        if not _gone(exc):
            raise
