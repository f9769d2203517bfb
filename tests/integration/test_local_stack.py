"""The local stack as `make dev` runs it: ready, serving the API, the job path from a committed
request to the real worker, data kept across a restart, nothing left behind by Ctrl-C."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.local_stack import LocalStack, alive, free_config, start_stack

pytestmark = pytest.mark.integration


def test_ready_stack_describes_itself_in_local_json(local_stack: LocalStack) -> None:
    info = json.loads(local_stack.config.local_json.read_text())
    assert info["api_url"] == local_stack.config.api_url
    assert info["ws_url"] == local_stack.config.ws_url
    assert info["docs_url"] == f"{local_stack.config.api_url}/docs"
    assert info["token"].startswith("borg_")
    assert (local_stack.config.local_json.stat().st_mode & 0o777) == 0o600


def test_health_is_public_and_docs_are_served(local_stack: LocalStack) -> None:
    health = httpx.get(f"{local_stack.api_url}/health", timeout=10)
    assert health.status_code == 200
    assert health.headers["X-Request-Id"]
    docs = httpx.get(f"{local_stack.api_url}/docs", timeout=10, follow_redirects=True)
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


def test_the_api_needs_the_token(local_stack: LocalStack) -> None:
    response = httpx.get(f"{local_stack.api_url}/api/v1/projects", timeout=10)
    assert response.status_code == 401
    assert response.json()["code"]


def test_create_and_list_a_project(api: httpx.Client) -> None:
    created = api.post("/api/v1/projects", json={"name": "stack-demo", "path": "/srv/stack-demo"})
    assert created.status_code == 201, created.text
    project = created.json()
    assert project["name"] == "stack-demo"
    listed = api.get("/api/v1/projects").json()
    assert project["id"] in [p["id"] for p in listed]
    assert api.get(f"/api/v1/projects/{project['id']}").json()["path"] == "/srv/stack-demo"


def test_a_committed_job_request_is_pumped_to_rq_and_run_by_the_worker(
    local_stack: LocalStack, stack_store: Any
) -> None:
    import redis
    from rq.job import Job

    from chalicelib import jobs

    job_id = stack_store.commit(
        "local",
        lambda tx: jobs.request_job(
            tx, function="workers.diagnostics.ping", kwargs={"text": "through the outbox"}
        ),
    )
    connection = redis.Redis.from_url(local_stack.redis_url)
    deadline = time.monotonic() + 30
    while True:
        if Job.exists(job_id, connection=connection):
            job = Job.fetch(job_id, connection=connection)
            if job.is_finished:
                break
            assert not job.is_failed, job.latest_result()
        assert time.monotonic() < deadline, "the job was not run in time"
        time.sleep(0.1)
    result: dict[str, Any] = job.return_value() or {}
    assert result["text"] == "through the outbox"
    assert result["pid"] != local_stack.process.pid


def test_restart_keeps_data_and_ctrl_c_leaves_no_process(tmp_path: Path) -> None:
    config = free_config(tmp_path / "state", snapshot_interval=0.5)
    first = start_stack(config)
    try:
        headers = {"Authorization": f"Bearer {first.token}"}
        created = httpx.post(
            f"{first.api_url}/api/v1/projects", json={"name": "kept", "path": "/srv/kept"}, headers=headers
        )
        assert created.status_code == 201, created.text
        pids = first.service_pids()
        assert len(pids) >= 6  # redis, moto, ws, triggers, api, worker (+ its scheduler)
    finally:
        code = first.stop(signal.SIGINT)
    assert code == 0
    assert [pid for pid in pids if alive(pid)] == []
    assert not config.local_json.exists()

    second = start_stack(config)
    try:
        assert second.token == first.token  # the admin token survived with the data
        project = httpx.get(
            f"{second.api_url}/api/v1/projects/{created.json()['id']}",
            headers={"Authorization": f"Bearer {second.token}"},
        )
        assert project.status_code == 200, project.text
        assert project.json()["name"] == "kept"
    finally:
        assert second.stop(signal.SIGTERM) == 0
