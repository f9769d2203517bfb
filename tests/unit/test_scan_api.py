"""Scans through the API: request, the host's job against moto, fields on the project, errors in
the error log, path rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chalicelib.store import keys
from chalicelib.store.table import get_store
from tests.support.scan_trees import BROKEN_PROJECT, PYTHON_WEB_APP, link, write
from tests.unit.conftest import Caller, body
from tests.unit.scan_support import events, job_requests, roots, run_scan_jobs

__all__ = ["roots"]


def create(caller: Caller, path: Path | str, name: str = "shop", **extra: object) -> dict:
    response = caller.post("/api/v1/projects", {"name": name, "path": str(path), **extra})
    assert response.status_code == 201, body(response)
    return body(response)


def test_scan_answers_at_once_and_queues_a_job_on_the_projects_host(alice: Caller, roots: Path) -> None:
    project = create(alice, write(roots / "shop", PYTHON_WEB_APP))
    assert project["host"] == "local"
    response = alice.post(f"/api/v1/projects/{project['id']}/scan")
    assert response.status_code == 202
    assert body(response) == {"message": f"Scan initiated for project {project['id']}"}
    shown = body(alice.get(f"/api/v1/projects/{project['id']}"))
    assert shown["scan_status"] == "queued" and shown["last_scan_at"] is None
    [request] = job_requests("alice")
    assert request["queue"] == "host.local"
    assert request["function"] == "workers.scan_jobs.scan_project"
    assert request["kwargs"]["project_id"] == project["id"]


def test_a_project_on_another_host_is_scanned_there(alice: Caller, roots: Path) -> None:
    project = create(alice, roots / "x", host="build-box")
    alice.post(f"/api/v1/projects/{project['id']}/scan")
    assert [r["queue"] for r in job_requests("alice")] == ["host.build-box"]


def test_the_job_writes_every_field_onto_the_project(alice: Caller, roots: Path) -> None:
    project = create(alice, write(roots / "shop", PYTHON_WEB_APP), tech_stack=["guess"])
    alice.post(f"/api/v1/projects/{project['id']}/scan")
    [result] = run_scan_jobs("alice", set())
    assert result["status"] == "completed"
    shown = body(alice.get(f"/api/v1/projects/{project['id']}"))
    assert shown["scan_status"] == "completed" and shown["last_scan_at"]
    assert shown["tech_stack"] == ["python", "flask", "postgresql", "redis", "docker"]
    assert (shown["health_score"], shown["vibe_score"], shown["eco_score"]) == (80, 93, 57)
    assert shown["errors"] == []
    meta = shown["metadata"]
    assert (meta["lines_of_code"], meta["test_coverage"], meta["dependencies"]) == (17, 78.5, 3)
    [event] = events("alice", "scan_completed")
    assert event["channel"] == "projects" and event["name"] == "project.scan_completed"
    assert event["data"]["project_id"] == project["id"] and event["data"]["health_score"] == 80
    # the listing shows the scanned stack too (tech_stack filter)
    assert [p["id"] for p in body(alice.get("/api/v1/projects?tech_stack=flask"))] == [project["id"]]


def test_scan_errors_reach_the_error_log_and_a_rescan_replaces_them(alice: Caller, roots: Path) -> None:
    project = create(alice, write(roots / "broken", BROKEN_PROJECT), name="broken")
    done: set[str] = set()
    alice.post(f"/api/v1/projects/{project['id']}/scan")
    run_scan_jobs("alice", done)
    shown = body(alice.get(f"/api/v1/projects/{project['id']}"))
    assert {"type": "syntax", "file": "main.py", "line": 4, "message": "Unexpected indent"} in shown["errors"]
    assert len(shown["errors"]) == 7
    logged = body(alice.get(f"/api/v1/errors?project_id={project['id']}"))
    assert len(logged) == 7
    assert {e["error_type"] for e in logged} == {"syntax", "manifest", "dockerfile"}
    assert "main.py:4: Unexpected indent" in {e["message"] for e in logged}
    # fix one file and rescan: the error log holds this scan's six, not thirteen
    (roots / "broken" / "main.py").write_text("import os\n\nx = 1\ny = 2\n")
    alice.post(f"/api/v1/projects/{project['id']}/scan")
    run_scan_jobs("alice", done)
    response = alice.get(f"/api/v1/errors?project_id={project['id']}&limit=50")
    assert body(response)["pagination"]["total"] == 6
    assert len(body(response)["data"]) == 6
    assert body(alice.get("/api/v1/errors?limit=50"))["pagination"]["total"] == 6
    assert len(body(alice.get(f"/api/v1/projects/{project['id']}"))["errors"]) == 6


def test_project_paths_outside_the_roots_are_refused_and_nothing_is_created(
    alice: Caller, roots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.config import reset_settings

    monkeypatch.setenv("BORGOS_STAGE", "prod")  # the local stage takes any path (the scanner refuses)
    reset_settings()
    for path in ("/etc", f"{roots}/../elsewhere", f"{roots}x/app", "relative/path"):
        response = alice.post("/api/v1/projects", {"name": "x", "path": path})
        assert response.status_code == 400, path
        assert body(response)["details"][0]["field"] == "path"
    assert body(alice.get("/api/v1/projects")) == []


def test_a_symlink_that_leads_out_of_the_roots_is_refused_by_the_scanner(
    alice: Caller, roots: Path, tmp_path: Path
) -> None:
    outside = write(tmp_path / "outside", {"secret.py": "TOKEN = 1\n"})
    link(outside, roots / "sneaky")
    project = create(alice, roots / "sneaky")  # lexically under the root: the API cannot tell
    alice.post(f"/api/v1/projects/{project['id']}/scan")
    [result] = run_scan_jobs("alice", set())
    assert result["status"] == "failed"
    shown = body(alice.get(f"/api/v1/projects/{project['id']}"))
    assert shown["scan_status"] == "failed" and shown["last_scan_at"] is None
    assert shown["scan_message"] == result["message"] and "outside" in shown["scan_message"]
    assert shown["metadata"] == {}  # nothing of the outside was read
    assert events("alice", "scan_failed")[0]["data"]["project_id"] == project["id"]


def test_without_roots_the_scanner_refuses_and_only_the_local_stage_accepts_paths(
    alice: Caller, roots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.config import reset_settings

    write(roots / "shop", PYTHON_WEB_APP)
    monkeypatch.delenv("BORGOS_PROJECT_ROOTS")
    reset_settings()
    project = create(alice, roots / "shop")
    alice.post(f"/api/v1/projects/{project['id']}/scan")
    [result] = run_scan_jobs("alice", set())
    assert result == {"status": "failed", "message": result["message"]}
    assert "no project roots" in result["message"]
    monkeypatch.setenv("BORGOS_STAGE", "prod")
    reset_settings()
    response = alice.post("/api/v1/projects", {"name": "y", "path": str(roots / "shop")})
    assert response.status_code == 400 and "no project roots" in body(response)["message"]


def test_scanning_a_missing_or_foreign_project_is_404_and_requests_nothing(
    alice: Caller, bob: Caller, roots: Path
) -> None:
    project = create(alice, roots / "a")
    assert bob.post(f"/api/v1/projects/{project['id']}/scan").status_code == 404
    assert alice.post("/api/v1/projects/99/scan").status_code == 404
    assert job_requests("alice") == [] and job_requests("bob") == []
    assert body(alice.get(f"/api/v1/projects/{project['id']}"))["scan_status"] is None


def test_scanning_needs_the_write_scope(alice: Caller, roots: Path, client: object) -> None:
    from tests.unit.conftest import issue

    project = create(alice, roots / "a")
    reader = Caller(alice.client, issue("alice", ["read"]))
    assert reader.post(f"/api/v1/projects/{project['id']}/scan").status_code == 403


def test_the_scan_job_runs_on_a_real_rq_worker(alice: Caller, roots: Path, redis_queue: str) -> None:
    import redis
    from rq import Queue

    from app import on_table_change
    from chalicelib import aws
    from chalicelib.config import get_settings
    from tests.support.rq_run import work
    from tests.support.streams import StreamReader

    stream = StreamReader(aws.client("dynamodb"), aws.client("dynamodbstreams"), get_settings().table_name)
    project = create(alice, write(roots / "shop", PYTHON_WEB_APP))
    alice.post(f"/api/v1/projects/{project['id']}/scan")
    on_table_change({"Records": stream.drain()}, None)
    connection = redis.Redis.from_url(redis_queue)
    queue = Queue("host.local", connection=connection)
    assert queue.count == 1
    work(redis_queue, ["host.local"])
    shown = body(alice.get(f"/api/v1/projects/{project['id']}"))
    assert shown["scan_status"] == "completed" and shown["health_score"] == 80
    item = get_store().get(keys.tenant_pk("alice"), keys.entity_sk("PROJECT", project["id"]))
    assert item is not None and item["search_index"]["key"] == f"search/alice/{project['id']}/code.sqlite"


def test_deleting_a_scanned_project_removes_its_index_from_s3(
    alice: Caller, roots: Path, redis_queue: str
) -> None:
    from app import on_table_change
    from chalicelib import aws
    from chalicelib.config import get_settings
    from tests.support.rq_run import work
    from tests.support.streams import StreamReader

    stream = StreamReader(aws.client("dynamodb"), aws.client("dynamodbstreams"), get_settings().table_name)
    kept = create(alice, write(roots / "kept", PYTHON_WEB_APP))
    gone = create(alice, write(roots / "gone", PYTHON_WEB_APP))
    for project in (kept, gone):
        alice.post(f"/api/v1/projects/{project['id']}/scan")
    on_table_change({"Records": stream.drain()}, None)
    work(redis_queue, ["host.local"])
    s3 = aws.client("s3")
    bucket = get_settings().bucket_name

    def stored() -> set[str]:
        listing = s3.list_objects_v2(Bucket=bucket, Prefix="search/alice/")
        return {o["Key"] for o in listing.get("Contents", [])}

    assert stored() == {f"search/alice/{kept['id']}/code.sqlite", f"search/alice/{gone['id']}/code.sqlite"}
    on_table_change({"Records": stream.drain()}, None)
    assert alice.delete(f"/api/v1/projects/{gone['id']}").status_code == 204
    records = stream.drain()
    on_table_change({"Records": records}, None)
    assert stored() == {f"search/alice/{kept['id']}/code.sqlite"}
    on_table_change({"Records": records}, None)  # a retried batch finds nothing left to remove
    assert stored() == {f"search/alice/{kept['id']}/code.sqlite"}


def test_a_project_deleted_while_it_is_scanned_leaves_no_index_behind(
    alice: Caller, roots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import aws, scans
    from chalicelib.config import get_settings

    project = create(alice, write(roots / "shop", PYTHON_WEB_APP))
    alice.post(f"/api/v1/projects/{project['id']}/scan")
    real_complete = scans.complete

    def deleted_first(*args: Any, **kwargs: Any) -> Any:
        assert alice.delete(f"/api/v1/projects/{project['id']}").status_code == 204
        return real_complete(*args, **kwargs)

    monkeypatch.setattr(scans, "complete", deleted_first)
    assert run_scan_jobs("alice", set()) == [{"status": "gone"}]
    listing = aws.client("s3").list_objects_v2(Bucket=get_settings().bucket_name, Prefix="search/alice/")
    assert listing.get("Contents", []) == []
    assert events("alice", "scan_completed") == [] and events("alice", "scan_failed") == []


def test_a_scan_of_a_project_deleted_meanwhile_does_nothing(alice: Caller, roots: Path) -> None:
    project = create(alice, write(roots / "shop", PYTHON_WEB_APP))
    alice.post(f"/api/v1/projects/{project['id']}/scan")
    assert alice.delete(f"/api/v1/projects/{project['id']}").status_code == 204
    assert run_scan_jobs("alice", set()) == [{"status": "gone"}]
    assert events("alice", "scan_completed") == [] and events("alice", "scan_failed") == []
