"""The Prometheus text exposition format (version 0.0.4): HELP and TYPE once per family, then its
samples; label values escape backslash, double quote and newline, HELP text backslash and newline."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclass
class Family:
    name: str
    type: str  # gauge | counter | untyped
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> Family:
        self.samples.append((labels, value))
        return self


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def render(families: list[Family]) -> str:
    lines: list[str] = []
    for family in families:
        if not _NAME.match(family.name):
            raise ValueError(f"invalid metric name {family.name!r}")
        lines.append(f"# HELP {family.name} {escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.type}")
        for labels, value in family.samples:
            for label in labels:
                if not _LABEL.match(label) or label.startswith("__"):
                    raise ValueError(f"invalid label name {label!r}")
            rendered = ",".join(f'{k}="{escape_label(str(v))}"' for k, v in sorted(labels.items()))
            lines.append(
                f"{family.name}{{{rendered}}} {format_value(value)}"
                if labels
                else f"{family.name} {format_value(value)}"
            )
        # (a family with no samples still documents itself)
    return "\n".join(lines) + "\n"
