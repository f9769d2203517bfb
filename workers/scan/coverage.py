"""Line coverage (percent) from the reports test tools write: coverage.py's coverage.json and
coverage.xml (Cobertura, also written by many other tools), and lcov.info."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET


def read_coverage(name: str, text: str) -> float | None:
    try:
        if name.endswith(".json"):
            return _from_json(json.loads(text))
        if name.endswith(".xml"):
            rate = ET.fromstring(text).get("line-rate")
            return round(float(rate) * 100, 2) if rate is not None else None
        if name.endswith(".info"):
            return _from_lcov(text)
    except (ValueError, ET.ParseError, TypeError, AttributeError):
        return None
    return None


def _from_json(data: dict) -> float | None:
    totals = data.get("totals") or {}
    if "percent_covered" in totals:  # coverage.py
        return round(float(totals["percent_covered"]), 2)
    total = data.get("total") or {}  # istanbul's coverage-summary shape
    if isinstance(total.get("lines"), dict) and "pct" in total["lines"]:
        return round(float(total["lines"]["pct"]), 2)
    return None


def _from_lcov(text: str) -> float | None:
    found = hit = 0
    for line in text.splitlines():
        if line.startswith("LF:"):
            found += int(line[3:])
        elif line.startswith("LH:"):
            hit += int(line[3:])
    return round(hit * 100 / found, 2) if found else None
