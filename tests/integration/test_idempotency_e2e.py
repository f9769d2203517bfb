"""Idempotency-Key over HTTP on the real local stack: a retried POST is answered once."""

from __future__ import annotations

import uuid

import httpx
import pytest

pytestmark = pytest.mark.integration


def test_a_retried_post_with_the_same_key_replays_the_first_answer(api: httpx.Client) -> None:
    name = f"idem-{uuid.uuid4().hex[:8]}"
    request = {"name": name, "path": f"/srv/{name}"}
    headers = {"Idempotency-Key": f"create-{name}"}
    first = api.post("/api/v1/projects", json=request, headers=headers)
    assert first.status_code == 201, first.text
    retry = api.post("/api/v1/projects", json=request, headers=headers)
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.headers["X-Request-Id"] != first.headers["X-Request-Id"]
    listed = api.get("/api/v1/projects", params={"limit": 500}).json()["data"]
    assert [p["id"] for p in listed if p["name"] == name] == [first.json()["id"]]
    reused = api.post("/api/v1/projects", json={**request, "path": "/srv/other"}, headers=headers)
    assert reused.status_code == 422 and reused.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
