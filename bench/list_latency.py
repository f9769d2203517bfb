"""List latency with 100 vs 20,000 projects: GET /api/v1/projects (first page of 50 and its total).
Target: ratio at most 1.5.

Two engines, in the same run: dynalite (a DynamoDB implementation on LevelDB whose Query reads a key
range, as DynamoDB does; installed from npm into .borgos/tools on first use) and moto in process (the
unit tests' emulator, whose Query sorts the whole partition in Python, so its latency grows with the
partition whatever the app does). Two layouts: the 20,000 projects in the caller's own tenant, and
20,000 of other tenants beside the caller's 100. The items each Query reads are printed as well."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from bench.common import median, percentile
from infra.local.node_tools import npm_tool
from tests.support.local_services import free_port

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    POWERTOOLS_LOG_LEVEL="WARNING",
    AWS_ACCOUNT_ID_ENDPOINT_MODE="disabled",
)
REQUESTS = 60
TOKEN = "borg_list-latency-bench"
TABLE = "borgos-bench"
DYNALITE_VERSION = "4.0.0"


def seed(tenant: str, count: int) -> None:
    """Write projects as the API stores them, 25 per BatchWriteItem, and their collection header."""
    from chalicelib import aws, clock
    from chalicelib.projects import INITIAL_SCORES, KIND
    from chalicelib.store import keys
    from chalicelib.store.codec import encode_item

    now = clock.iso(clock.now())
    items: list[dict[str, Any]] = []
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
    client = aws.client("dynamodb")
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": encode_item(i)}} for i in items[start : start + 25]]
        request: dict[str, Any] = {TABLE: batch}
        while request:
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}


def seed_token() -> None:
    from chalicelib import aws
    from chalicelib.auth import hash_token
    from chalicelib.store import keys
    from chalicelib.store.codec import encode_item

    item = {
        "PK": keys.token_pk(hash_token(TOKEN)),
        "SK": keys.TOKEN_SK,
        "tenant": "bench",
        "token_id": 1,
        "scopes": ["read"],
        "rate_limit_per_minute": 100_000,
        "rate_limit_burst": 100_000,
    }
    aws.client("dynamodb").put_item(TableName=TABLE, Item=encode_item(item))


def measure() -> tuple[float, float, int]:
    from chalice.test import Client

    from app import app
    from chalicelib import aws

    read: list[int] = []

    def count_items(parsed: Any, model: Any, **_: Any) -> None:
        read.append(int(parsed.get("ScannedCount", 0)))

    events = aws.client("dynamodb").meta.events
    events.register("after-call.dynamodb.Query", count_items)
    timings = []
    with Client(app) as client:
        for _ in range(REQUESTS):
            start = time.perf_counter()
            response = client.http.get("/api/v1/projects", headers={"Authorization": f"Bearer {TOKEN}"})
            timings.append(time.perf_counter() - start)
            assert response.status_code == 200 and len(response.json_body) == 50, response.body[:200]
    events.unregister("after-call.dynamodb.Query", count_items)
    return median(timings) * 1000, percentile(timings, 99) * 1000, max(read)


@contextmanager
def moto_engine() -> Iterator[None]:
    from moto import mock_aws

    from infra.local import moto_patches

    moto_patches.apply()
    os.environ.pop("BORGOS_DYNAMODB_ENDPOINT", None)
    with mock_aws():
        yield


def dynalite_binary() -> str:
    return npm_tool("dynalite", DYNALITE_VERSION, "dynalite")


@contextmanager
def dynalite_engine() -> Iterator[None]:
    port = free_port()
    process = subprocess.Popen([dynalite_binary(), "--port", str(port)], stdout=subprocess.DEVNULL)
    os.environ["BORGOS_DYNAMODB_ENDPOINT"] = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                _fresh_clients().list_tables()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


def _fresh_clients() -> Any:
    from chalicelib import aws
    from chalicelib.config import reset_settings
    from chalicelib.store.table import reset_store

    os.environ["BORGOS_TABLE"] = TABLE
    reset_settings()
    aws.reset_clients()
    reset_store()
    return aws.client("dynamodb")


def scenario(
    engine: Callable[[], AbstractContextManager[None]], own: int, others: int
) -> tuple[float, float, int]:
    from infra.table import table_definition

    with engine():
        client = _fresh_clients()
        client.create_table(**table_definition(TABLE))
        client.get_waiter("table_exists").wait(
            TableName=TABLE, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100}
        )
        seed_token()
        seed("bench", own)
        for n in range(others // 1000):
            seed(f"other-{n}", 1000)
        measure()  # warm-up: models built, clients created
        return measure()


def main() -> None:
    layouts = (
        ("100 projects (baseline)", 100, 0),
        ("20,000 in the caller's tenant", 20_000, 0),
        ("100 own + 20,000 of other tenants", 100, 20_000),
    )
    print(f"GET /api/v1/projects (page of 50 + total), {REQUESTS} requests per row, chalice test client")
    print(f"{'engine':9} {'layout':36} {'p50 ms':>8} {'p99 ms':>8} {'items read':>11} {'ratio':>6}")
    for name, engine in (("dynalite", dynalite_engine), ("moto", moto_engine)):
        results = [scenario(engine, own, others) for _, own, others in layouts]
        base = results[0][0]
        for (layout, _, _), (p50, p99, read) in zip(layouts, results, strict=True):
            print(f"{name:9} {layout:36} {p50:8.2f} {p99:8.2f} {read:11d} {p50 / base:6.2f}")
    print("target: ratio <= 1.5 (the Query reads the same items whatever the table holds)")


if __name__ == "__main__":
    main()
