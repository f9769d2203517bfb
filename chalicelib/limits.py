"""CPU and memory limits as users write them ("0.5", "512m") turned into what the Docker engine takes
(nano CPUs, bytes). Standard library only: the API validates with it and the worker applies it."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

NANO = 1_000_000_000
MIN_CPU = Decimal("0.01")
MAX_CPU = Decimal(64)
# Docker refuses memory limits under 6 MiB.
MIN_MEMORY = 6 * 1024**2
MAX_MEMORY = 256 * 1024**3

_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


class LimitError(ValueError):
    """A limit that cannot be parsed or lies outside the bounds; the message says which and why."""


def parse_cpu(value: str | int | float) -> int:
    """CPUs as a decimal ("0.5", "2") or millicores ("500m") -> nano CPUs (0.5 -> 500_000_000)."""
    text = str(value).strip().lower()
    scale = Decimal(1)
    if text.endswith("m"):
        text, scale = text[:-1], Decimal("0.001")
    try:
        cpus = Decimal(text) * scale
    except InvalidOperation:
        raise LimitError(f"cpu limit {value!r} is not a number of CPUs like '0.5' or '500m'") from None
    if not cpus.is_finite() or not MIN_CPU <= cpus <= MAX_CPU:
        raise LimitError(f"cpu limit {value!r} must be between {MIN_CPU} and {MAX_CPU} CPUs")
    return int(cpus * NANO)


def parse_memory(value: str | int) -> int:
    """Memory with a binary unit ("512m", "1g", "256MiB", "1048576") -> bytes."""
    match = _MEMORY.match(str(value))
    if not match:
        raise LimitError(f"memory limit {value!r} is not a size like '512m' or '1g'")
    number, unit = Decimal(match.group(1)), match.group(2).lower()
    size = int(number * _UNITS[unit])
    if not MIN_MEMORY <= size <= MAX_MEMORY:
        raise LimitError(f"memory limit {value!r} must be between 6m and 256g")
    return size


def format_memory(size: int) -> str:
    """Bytes -> the shortest exact form ("512m"), for display and round trips."""
    for unit in ("t", "g", "m", "k"):
        if size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]}{unit}"
    return str(size)
