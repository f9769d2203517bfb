"""DynamoDB attribute values between their JSON wire form (binary as base64 text, as in Lambda's
stream events and in snapshots) and botocore's form (binary as bytes)."""

from __future__ import annotations

import base64
from typing import Any


def _convert(value: dict[str, Any], binary: Any) -> dict[str, Any]:
    (kind, inner), *_ = value.items()
    if kind == "B":
        return {"B": binary(inner)}
    if kind == "BS":
        return {"BS": [binary(v) for v in inner]}
    if kind == "M":
        return {"M": {k: _convert(v, binary) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_convert(v, binary) for v in inner]}
    return {kind: inner}


def _to_text(raw: Any) -> str:
    return base64.b64encode(raw).decode("ascii") if isinstance(raw, bytes | bytearray) else str(raw)


def _to_bytes(raw: Any) -> bytes:
    return raw if isinstance(raw, bytes) else base64.b64decode(raw)


def item_to_wire(item: dict[str, Any]) -> dict[str, Any]:
    """botocore's attribute map -> JSON wire form."""
    return {name: _convert(value, _to_text) for name, value in item.items()}


def item_from_wire(item: dict[str, Any]) -> dict[str, Any]:
    """JSON wire form -> botocore's attribute map (for put_item / batch_write_item)."""
    return {name: _convert(value, _to_bytes) for name, value in item.items()}
