"""Python values <-> DynamoDB attribute values. Small and exact: ints stay ints, floats stay floats
(no Decimal leaks into the domain), empty strings and None are kept as NULL."""

from __future__ import annotations

from typing import Any


def encode(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, dict):
        return {"M": {str(k): encode(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [encode(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def decode(attribute: dict[str, Any]) -> Any:
    ((kind, raw),) = attribute.items()
    if kind == "S":
        return raw
    if kind == "N":
        return int(raw) if raw.lstrip("-").isdigit() else float(raw)
    if kind == "BOOL":
        return raw
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: decode(v) for k, v in raw.items()}
    if kind == "L":
        return [decode(v) for v in raw]
    if kind == "SS":
        return list(raw)
    if kind == "NS":
        return [int(v) if v.lstrip("-").isdigit() else float(v) for v in raw]
    raise TypeError(f"unsupported DynamoDB type {kind}")


def encode_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: encode(v) for k, v in item.items()}


def decode_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: decode(v) for k, v in item.items()}
