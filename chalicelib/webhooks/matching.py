"""Event names and the patterns endpoints subscribe with.

Names are dot-separated segments of `[A-Za-z0-9_]` (`deployment.failed`), as Standard Webhooks
recommends. A pattern segment may be `*`: inside a pattern it stands for exactly one segment
(`*.failed`), at the end for one or more (`deployment.*` matches `deployment.step.failed`), and `*`
alone matches every event. Matching is case-sensitive.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from chalicelib.webhooks.errors import InvalidEventNameError

WILDCARD = "*"
MAX_NAME_LENGTH = 128
MAX_SEGMENTS = 8
MAX_PATTERNS = 100

_SEGMENT = re.compile(r"^[A-Za-z0-9_]+$")


def validate_event_name(name: str) -> str:
    """Return the name unchanged, or raise InvalidEventNameError saying what is wrong."""
    for segment in _segments(name, kind="event name"):
        if not _SEGMENT.match(segment):
            raise InvalidEventNameError(f"event name {name!r}: segments are letters, digits or '_'")
    return name


def validate_pattern(pattern: str) -> str:
    """Return the pattern unchanged, or raise InvalidEventNameError saying what is wrong."""
    for segment in _segments(pattern, kind="event pattern"):
        if segment != WILDCARD and not _SEGMENT.match(segment):
            raise InvalidEventNameError(
                f"event pattern {pattern!r}: segments are letters, digits, '_' or a whole '*'"
            )
    return pattern


def validate_patterns(patterns: Iterable[str]) -> list[str]:
    """Validate a subscription list: non-empty, bounded, each pattern valid; duplicates dropped."""
    unique = list(dict.fromkeys(validate_pattern(pattern) for pattern in patterns))
    if not unique:
        raise InvalidEventNameError("events must name at least one event or pattern")
    if len(unique) > MAX_PATTERNS:
        raise InvalidEventNameError(f"events may hold at most {MAX_PATTERNS} patterns")
    return unique


def matches(pattern: str, event: str) -> bool:
    """Whether `event` is covered by `pattern` (both assumed valid)."""
    wanted = pattern.split(".")
    actual = event.split(".")
    if wanted[-1] == WILDCARD:
        head = wanted[:-1]
        return len(actual) > len(head) and _segments_match(head, actual[: len(head)])
    return len(wanted) == len(actual) and _segments_match(wanted, actual)


def matches_any(patterns: Iterable[str], event: str) -> bool:
    return any(matches(pattern, event) for pattern in patterns)


def _segments_match(wanted: list[str], actual: list[str]) -> bool:
    return all(w in (WILDCARD, a) for w, a in zip(wanted, actual, strict=True))


def _segments(value: str, *, kind: str) -> list[str]:
    if not isinstance(value, str) or not value:
        raise InvalidEventNameError(f"{kind} must be a non-empty string")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidEventNameError(f"{kind} {value[:20]!r}...: at most {MAX_NAME_LENGTH} characters")
    segments = value.split(".")
    if len(segments) > MAX_SEGMENTS:
        raise InvalidEventNameError(f"{kind} {value!r}: at most {MAX_SEGMENTS} segments")
    if any(not segment for segment in segments):
        raise InvalidEventNameError(f"{kind} {value!r}: empty segment (leading, trailing or double dot)")
    return segments
