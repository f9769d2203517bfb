"""Scan and search through the real local stack: create a project under the local host's root,
scan it (the stream pumps the job to the stack's worker, which scans and writes back), then read
the measured fields and search the code through the API."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.support.local_stack import LocalStack
from tests.support.scan_trees import PYTHON_WEB_APP, write

pytestmark = pytest.mark.integration


def wait_for_scan(api: httpx.Client, project_id: int, deadline_seconds: float = 90) -> dict:
    deadline = time.monotonic() + deadline_seconds
    while True:
        project = api.get(f"/api/v1/projects/{project_id}").json()
        if project["scan_status"] in ("completed", "failed"):
            return project
        if time.monotonic() > deadline:
            raise AssertionError(f"scan still {project['scan_status']} after {deadline_seconds}s")
        time.sleep(0.2)  # an external process: poll with a deadline


def test_create_scan_and_search_through_the_real_api(local_stack: LocalStack, api: httpx.Client) -> None:
    root = local_stack.config.projects_dir  # the local host's default root
    tree = write(root / f"shop-{time.monotonic_ns()}", PYTHON_WEB_APP)
    created = api.post("/api/v1/projects", json={"name": "e2e-shop", "path": str(tree)})
    assert created.status_code == 201, created.text
    project_id = created.json()["id"]

    response = api.post(f"/api/v1/projects/{project_id}/scan")
    assert response.status_code == 202
    assert response.json() == {"message": f"Scan initiated for project {project_id}"}

    project = wait_for_scan(api, project_id)
    assert project["scan_status"] == "completed", project
    assert project["last_scan_at"]
    assert project["tech_stack"] == ["python", "flask", "postgresql", "redis", "docker"]
    assert (project["health_score"], project["vibe_score"], project["eco_score"]) == (80, 93, 57)
    assert project["metadata"]["lines_of_code"] == 17
    assert project["metadata"]["test_coverage"] == 78.5
    assert project["metadata"]["dependencies"] == 3

    hits = api.post("/api/v1/search/code", params={"query": "authenticate_user", "project_id": project_id})
    assert hits.status_code == 200
    assert (f"{tree}/app/auth.py", 7) in [(h["file"], h["line"]) for h in hits.json()]
    ranked = api.post("/api/v1/search/projects", params={"query": "vintage cameras"}).json()
    assert ranked[0]["id"] == project_id


def test_scan_zenith_on_the_real_stack_creates_scans_and_then_changes_nothing(
    local_stack: LocalStack, api: httpx.Client
) -> None:
    """The API discovers the marker under the roots it shares with the stack's worker, which scans."""
    assert local_stack.info["project_roots"] == [str(local_stack.config.projects_dir)]  # as printed
    zenith_id = f"zen-e2e-{time.monotonic_ns()}"
    marker = {"id": zenith_id, "name": "Zen shop", "description": "found by its marker"}
    tree = write(
        local_stack.config.projects_dir / zenith_id,
        {**PYTHON_WEB_APP, ".zenith/project.json": json.dumps(marker)},
    )
    synced = api.post("/api/v1/projects/scan-zenith")
    assert synced.status_code == 200, synced.text
    assert synced.json() == {"message": "Scanned and synced 1 Zenith projects", "count": 1}
    [found] = [p for p in api.get("/api/v1/projects").json() if p["zenith_id"] == zenith_id]
    assert (found["name"], found["path"]) == ("Zen shop", str(tree))
    assert found["description"] == "found by its marker"
    project = wait_for_scan(api, found["id"])
    assert project["scan_status"] == "completed", project
    assert project["tech_stack"] == ["python", "flask", "postgresql", "redis", "docker"]

    again = api.post("/api/v1/projects/scan-zenith")
    assert again.json() == {"message": "Scanned and synced 1 Zenith projects", "count": 1}
    assert api.get(f"/api/v1/projects/{found['id']}").json() == project  # nothing written
