"""TTL on the REAL local stack: an error past its retention is deleted by the stack's moto (the TTL
emulation), the deletion reaches the app's stream handler as TTL's, and the error totals the API
shows drop with it."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from chalicelib.store import keys
from tests.support.local_stack import LocalStack

pytestmark = pytest.mark.integration

TENANT = "local"  # the stack's admin token belongs to this tenant


def test_an_expired_error_is_removed_and_leaves_the_totals(
    local_stack: LocalStack, api: httpx.Client, stack_store: Any
) -> None:
    created = api.post("/api/v1/projects", json={"name": "ttl-e2e", "path": "/projects/ttl-e2e"})
    assert created.status_code == 201, created.text
    project_id = created.json()["id"]
    critical_before = api.get("/api/v1/errors", params={"limit": 1, "severity": "critical"}).json()
    for severity in ("critical", "warning"):
        logged = api.post(
            "/api/v1/errors",
            json={"project_id": project_id, "error_type": "runtime", "severity": severity, "message": "m"},
        )
        assert logged.status_code == 201, logged.text
    errors = stack_store.query_page(pk=keys.tenant_pk(TENANT), sk_prefix="ERROR#", limit=1000).items
    [critical] = [
        e
        for e in errors
        if e.get("entity") == "error" and e["project_id"] == project_id and e["severity"] == "critical"
    ]
    stack_store.put({**critical, "expires_at": int(time.time()) - 1})  # its retention is over

    deadline = time.monotonic() + 60  # the stack sweeps every snapshot interval (5 s), then the pump
    while True:
        every = api.get("/api/v1/errors", params={"limit": 10, "project_id": project_id}).json()
        if every["pagination"]["total"] < 2:
            break
        assert time.monotonic() < deadline, f"the expired error is still counted: {every}"
        time.sleep(1.0)  # other processes do the work: poll (within the rate limit) with a deadline
    critical_now = api.get("/api/v1/errors", params={"limit": 1, "severity": "critical"}).json()
    assert [e["severity"] for e in every["data"]] == ["warning"]
    assert every["pagination"]["total"] == 1
    assert stack_store.get(critical["PK"], critical["SK"]) is None
    # The totals come from counters the handler corrected, not from a recount.
    assert critical_now["pagination"]["total"] == critical_before["pagination"]["total"]
