"""Helpers for scheduler tests: the store items a test inspects, and a manual clock installed as
the app's clock (chalicelib.clock.now), so ticks, toggles and runs happen at chosen instants."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from chalicelib.scheduling import ManualClock
from chalicelib.store import keys
from chalicelib.store.table import get_store


def install_clock(monkeypatch: pytest.MonkeyPatch, start: datetime) -> ManualClock:
    from chalicelib import clock

    manual = ManualClock(start)
    monkeypatch.setattr(clock, "now", manual)
    return manual


def items(tenant: str, prefix: str) -> list[dict[str, Any]]:
    page = get_store().query_page(pk=keys.tenant_pk(tenant), sk_prefix=prefix, limit=1000)
    return page.items


def runs(tenant: str, task_id: int) -> list[dict[str, Any]]:
    """Run items oldest first (the header excluded)."""
    return [i for i in items(tenant, f"SCHEDRUN#{task_id:012d}#") if i.get("entity") == "scheduler_run"]


def jobs(tenant: str) -> list[dict[str, Any]]:
    return items(tenant, "JOB#")


def run_events(tenant: str) -> list[dict[str, Any]]:
    return [e for e in items(tenant, "EVENT#") if e["type"] == "task_run"]
