from __future__ import annotations

import pytest
from chalice.test import Client

from tests.unit.conftest import Caller, body


def test_rate_limit_headers_on_every_response(alice: Caller) -> None:
    response = alice.get("/api/v1/projects")
    assert response.headers["X-RateLimit-Limit"] == "60"
    assert int(response.headers["X-RateLimit-Remaining"]) == 99
    assert int(response.headers["X-RateLimit-Reset"]) > 0


def test_burst_then_429_with_retry_after(client: Client) -> None:
    from chalicelib.models.tokens import TokenCreate
    from chalicelib.tokens import issue_token

    token = issue_token(
        "alice", TokenCreate(name="slow", scopes=["read"], rate_limit_per_minute=6, rate_limit_burst=3)
    ).token
    caller = Caller(client, token)
    statuses = [caller.get("/api/v1/projects").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = caller.get("/api/v1/projects")
    assert body(limited)["code"] == "RATE_LIMITED"
    assert 1 <= int(limited.headers["Retry-After"]) <= 10
    assert limited.headers["X-RateLimit-Remaining"] == "0"


def test_gcra_refills_at_the_steady_rate(aws: None) -> None:
    from chalicelib.ratelimit import RateLimiter
    from chalicelib.store.table import get_store

    limiter = RateLimiter(get_store())
    start = 1_000_000.0
    assert all(limiter.check("s", 60, 2, now=start).allowed for _ in range(2))
    assert not limiter.check("s", 60, 2, now=start).allowed
    assert limiter.check("s", 60, 2, now=start + 1.01).allowed  # one interval later, one more
    assert not limiter.check("s", 60, 2, now=start + 1.02).allowed


def test_limits_are_shared_between_instances(aws: None) -> None:
    from chalicelib.ratelimit import RateLimiter
    from chalicelib.store.table import get_store

    first, second = RateLimiter(get_store()), RateLimiter(get_store())
    now = 2_000_000.0
    assert first.check("x", 60, 2, now=now).allowed
    assert second.check("x", 60, 2, now=now).allowed
    assert not first.check("x", 60, 2, now=now).allowed
    assert not second.check("x", 60, 2, now=now).allowed


@pytest.mark.parametrize("per_minute", [60, 600])
def test_remaining_counts_down(aws: None, per_minute: int) -> None:
    from chalicelib.ratelimit import RateLimiter
    from chalicelib.store.table import get_store

    limiter = RateLimiter(get_store())
    remaining = [limiter.check(f"r{per_minute}", per_minute, 5, now=3_000_000.0).remaining for _ in range(5)]
    assert remaining == [4, 3, 2, 1, 0]
