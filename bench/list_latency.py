"""List latency with 100 vs 20,000 projects, GET /api/v1/projects (first page of 50 and its total).
Target: ratio at most 1.5. Two layouts: the 20,000 in the caller's own tenant, and the table holding
20,000 projects of other tenants besides the caller's 100. The items each Query reads are printed
too: DynamoDB's latency follows them, while moto's in-memory query sorts the whole partition."""

from __future__ import annotations

import os
import time
from typing import Any

from bench.common import ROOT, median, percentile  # noqa: F401

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    POWERTOOLS_LOG_LEVEL="WARNING",
    BORGOS_TABLE="borgos-bench",
)
REQUESTS = 60


def seed(tenant: str, count: int) -> None:
    """Write projects as the API would store them, 25 per BatchWriteItem, and their header."""
    from chalicelib import aws, clock
    from chalicelib.projects import INITIAL_SCORES, KIND
    from chalicelib.store import keys
    from chalicelib.store.codec import encode_item

    client = aws.client("dynamodb")
    now = clock.iso(clock.now())
    items = []
    for ident in range(1, count + 1):
        sk = keys.entity_sk(KIND, ident)
        items.append(
            {
                "PK": keys.tenant_pk(tenant),
                "SK": sk,
                "GSI1PK": keys.tenant_index_pk(tenant, KIND, "active"),
                "GSI1SK": sk,
                "entity": "project",
                "id": ident,
                "name": f"project-{ident}",
                "path": f"/projects/p{ident}",
                "project_type": "web",
                "tech_stack": ["python"],
                "description": None,
                "zenith_id": None,
                "metadata": {},
                "is_active": True,
                **INITIAL_SCORES,
                "errors": [],
                "deployments": {},
                "error_count": 0,
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
        )
    items.append({"PK": keys.tenant_pk(tenant), "SK": keys.header_sk(KIND), "count": count, "active": count})
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": encode_item(i)}} for i in items[start : start + 25]]
        client.batch_write_item(RequestItems={"borgos-bench": batch})


def measure(client: Any, token: str) -> tuple[float, float, int]:
    from chalicelib import aws

    read: list[int] = []

    def count_items(parsed: Any, model: Any, **_: Any) -> None:
        if model.name == "Query":
            read.append(int(parsed.get("ScannedCount", 0)))

    events = aws.client("dynamodb").meta.events
    events.register("after-call.dynamodb.Query", count_items)
    timings = []
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(REQUESTS):
        start = time.perf_counter()
        response = client.http.get("/api/v1/projects", headers=headers)
        timings.append(time.perf_counter() - start)
        assert response.status_code == 200 and len(response.json_body) == 50
    events.unregister("after-call.dynamodb.Query", count_items)
    return median(timings) * 1000, percentile(timings, 99) * 1000, max(read)


def scenario(own: int, others: int) -> tuple[float, float, int]:
    from chalice.test import Client
    from moto import mock_aws

    from chalicelib import aws
    from chalicelib.config import reset_settings
    from chalicelib.store.table import reset_store

    reset_settings()
    aws.reset_clients()
    reset_store()
    with mock_aws():
        from app import app
        from chalicelib.models.tokens import TokenCreate
        from chalicelib.tokens import issue_token
        from infra.table import create_table

        create_table(aws.client("dynamodb"), "borgos-bench")
        seed("bench", own)
        for n in range(others // 1000):
            seed(f"other-{n}", 1000)
        token = issue_token(
            "bench",
            TokenCreate(name="b", scopes=["read"], rate_limit_per_minute=100_000, rate_limit_burst=100_000),
        ).token
        with Client(app) as client:
            measure(client, token)  # warm-up: models built, clients created
            return measure(client, token)


def main() -> None:
    small = scenario(100, 0)
    big_tenant = scenario(20_000, 0)
    big_table = scenario(100, 20_000)
    print(f"GET /api/v1/projects (page 50 + total), {REQUESTS} requests each, in-process moto")
    print(f"{'layout':48} {'p50 ms':>8} {'p99 ms':>8} {'items read':>11}")
    for name, (p50, p99, read) in (
        ("100 projects (baseline)", small),
        ("20,000 projects in the caller's tenant", big_tenant),
        ("100 own, 20,000 of other tenants in the table", big_table),
    ):
        print(f"{name:48} {p50:8.2f} {p99:8.2f} {read:11d}")
    print(f"ratio, 20,000 in own tenant / 100:   {big_tenant[0] / small[0]:.2f} (target <= 1.5)")
    print(f"ratio, 20,000 in the table / 100:    {big_table[0] / small[0]:.2f} (target <= 1.5)")
    print(f"items read per request: {small[2]} vs {big_tenant[2]} (constant: the Query stops after the page)")


if __name__ == "__main__":
    main()
