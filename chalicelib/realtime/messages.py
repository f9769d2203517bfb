"""The WebSocket protocol (conventions: Realtime): what clients send and what the server answers."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from chalicelib.events import CHANNELS
from chalicelib.models.common import Model


class _Message(Model):
    model_config = ConfigDict(extra="forbid")


def _check_channels(value: list[str]) -> list[str]:
    unknown = [c for c in value if c not in CHANNELS]
    if unknown:
        raise ValueError(f"unknown channel(s) {', '.join(unknown)}; channels are {', '.join(CHANNELS)}")
    return list(dict.fromkeys(value))


class Subscribe(_Message):
    type: Literal["subscribe"]
    channels: list[str] = Field(min_length=1, max_length=len(CHANNELS) * 2)
    since: int | None = Field(default=None, ge=0)

    _channels = field_validator("channels")(_check_channels)


class Unsubscribe(_Message):
    type: Literal["unsubscribe"]
    channels: list[str] = Field(min_length=1, max_length=len(CHANNELS) * 2)

    _channels = field_validator("channels")(_check_channels)


class Ping(_Message):
    type: Literal["ping"]


ClientMessage = Annotated[Subscribe | Unsubscribe | Ping, Field(discriminator="type")]
_adapter: TypeAdapter[Subscribe | Unsubscribe | Ping] = TypeAdapter(ClientMessage)


class ProtocolError(Exception):
    """A message the server answers with `{"type": "error", ...}` (the connection stays open)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse(body: str | None) -> Subscribe | Unsubscribe | Ping:
    try:
        payload = json.loads(body or "")
    except ValueError:
        raise ProtocolError("BAD_MESSAGE", "messages are JSON objects") from None
    if not isinstance(payload, dict):
        raise ProtocolError("BAD_MESSAGE", "messages are JSON objects")
    if payload.get("type") not in ("subscribe", "unsubscribe", "ping"):
        raise ProtocolError("UNKNOWN_TYPE", "type must be subscribe, unsubscribe or ping")
    try:
        return _adapter.validate_python(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'message'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ProtocolError("VALIDATION_ERROR", problems) from None


def encode(frame: dict[str, Any]) -> bytes:
    return json.dumps(frame, separators=(",", ":"), default=str).encode()


def error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


def subscribed(channels: list[str], seq: int) -> dict[str, Any]:
    """`seq`: events after it follow (replayed first, then live)."""
    return {"type": "subscribed", "channels": channels, "seq": seq}


def event_frame(event: dict[str, Any]) -> dict[str, Any]:
    """An EVENT item as clients see it: the reference's `type` and `data`, plus seq, channel, timestamp."""
    return {
        "type": event["type"],
        "data": event["data"],
        "seq": int(event["seq"]),
        "channel": event["channel"],
        "timestamp": event["timestamp"],
    }
