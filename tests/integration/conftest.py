"""Integration fixtures: the REAL local stack (the code `make dev` runs), shared by the session.

Contract (other parts build on it; keep it stable):

- `local_stack` (session): a `tests.support.local_stack.LocalStack`, started by
  `python -m infra.local.stack` as a subprocess on free loopback ports (its own Redis too) with a
  temporary state directory, ready once its `local.json` appears. Attributes:
      api_url         "http://127.0.0.1:<port>"   (chalice local)
      ws_url          "ws://127.0.0.1:<port>/api" (WebSocket gateway)
      management_url  "http://127.0.0.1:<port>/api" (@connections API; BORGOS_WEBSOCKET_ENDPOINT)
      moto_url        "http://127.0.0.1:<port>"   (DynamoDB, Streams, S3; BORGOS_*_ENDPOINT)
      redis_url       "redis://127.0.0.1:<port>/0" (the stack's Redis; BORGOS_REDIS_URL)
      token           admin token of tenant "local" (scopes: admin)
      state_dir       Path (snapshots, local.json); logs_dir = state_dir / "logs" (one log per service)
      config          infra.local.config.StackConfig; process = the supervisor's Popen
  The stack's worker (workers/host.py) listens on "host.<config.worker_name>" (a name of its own,
  "local-<hex>": other stacks share the Docker engine), then the shared queues "agents-high",
  "default", "agents", "agents-low".
- `api` (function): an `httpx.Client` with `base_url=local_stack.api_url` and
  `Authorization: Bearer <admin token>`.
- `stack_store` (function): chalicelib (settings, AWS clients, store) pointed at the stack's moto
  and Redis while the test runs (e.g. to commit a job request through the outbox); restored after.
- `tests.support.local_stack.start_stack(free_config(tmp_path))` starts a private stack for tests
  that stop or restart one (never stop the shared one).

Every test under tests/integration is marked `integration`; with `-n 2 --dist loadgroup` (make
test) they all run on one xdist worker (tests/support/xdist_groups.py), so they share one stack.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.local_stack import LocalStack, free_config, start_stack

INTEGRATION_DIR = Path(__file__).resolve().parent


def pytest_itemcollected(item: pytest.Item) -> None:
    if INTEGRATION_DIR in Path(str(item.path)).resolve().parents:
        item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = start_stack(free_config(tmp_path_factory.mktemp("local-stack")))
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def api(local_stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=local_stack.api_url,
        headers={"Authorization": f"Bearer {local_stack.token}"},
        timeout=30,
    ) as client:
        yield client


@pytest.fixture
def stack_store(local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from chalicelib import aws, jobs
    from chalicelib.config import reset_settings
    from chalicelib.store.table import get_store, reset_store
    from infra.local.config import app_environment

    env = app_environment(local_stack.config, base={})
    for name in (
        "BORGOS_DYNAMODB_ENDPOINT",
        "BORGOS_S3_ENDPOINT",
        "BORGOS_REDIS_URL",
        "BORGOS_WEBSOCKET_ENDPOINT",
    ):
        monkeypatch.setenv(name, env[name])
    monkeypatch.delenv("BORGOS_TABLE", raising=False)

    def reset() -> None:
        reset_settings()
        aws.reset_clients()
        reset_store()
        jobs.redis_connection.cache_clear()

    reset()
    yield get_store()
    monkeypatch.undo()
    reset()
