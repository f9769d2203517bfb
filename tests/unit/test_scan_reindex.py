"""Code indexes an older scanner wrote (another layout: search skips them) are rebuilt by the host's
periodic `rescan_outdated_indexes`, once, and only where a rescan can help."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from chalicelib import aws
from chalicelib.config import get_settings
from chalicelib.search import index
from chalicelib.store import keys
from chalicelib.store.table import get_store
from tests.support.scan_trees import PYTHON_WEB_APP, write
from tests.unit.conftest import Caller, body
from tests.unit.scan_support import roots, run_scan_jobs
from workers.scan_jobs import rescan_outdated_indexes

__all__ = ["roots"]


def scanned(caller: Caller, path: Path, done: set[str], **extra: object) -> int:
    response = caller.post("/api/v1/projects", {"name": path.name, "path": str(path), **extra})
    assert response.status_code == 201, body(response)
    project_id = int(body(response)["id"])
    assert caller.post(f"/api/v1/projects/{project_id}/scan").status_code == 202
    run_scan_jobs("alice", done)
    return project_id


def project(project_id: int) -> dict[str, Any]:
    item = get_store().get(keys.tenant_pk("alice"), keys.entity_sk("PROJECT", project_id))
    assert item is not None
    return item


def as_an_older_scanner_left_it(project_id: int, tmp_path: Path, schema: str | None) -> None:
    """The index object in the old layout, and the project's reference as the old code wrote it."""
    reference = project(project_id)["search_index"]
    s3, bucket = aws.client("s3"), get_settings().bucket_name
    local = tmp_path / f"old-{project_id}.sqlite"
    local.write_bytes(s3.get_object(Bucket=bucket, Key=reference["key"])["Body"].read())
    with sqlite3.connect(local) as conn:
        conn.execute("UPDATE meta SET value='1' WHERE key='schema'")
    etag = s3.put_object(Bucket=bucket, Key=reference["key"], Body=local.read_bytes())["ETag"]
    old = {key: value for key, value in reference.items() if key != "schema"}
    old["etag"] = etag
    if schema is not None:
        old["schema"] = schema
    set_attributes(project_id, search_index=old)


def set_attributes(project_id: int, **values: Any) -> None:
    item = project(project_id)
    get_store().put({**item, **values})


def hits(caller: Caller, project_id: int) -> list[tuple[str, int, str, float]]:
    """The project's code search hits, with paths relative to the project."""
    response = caller.post(f"/api/v1/search/code?query=authenticate&project_id={project_id}")
    assert response.status_code == 200, body(response)
    root = project(project_id)["path"]
    return [
        (str(Path(hit["file"]).relative_to(root)), hit["line"], hit["content"], hit["relevance_score"])
        for hit in body(response)
    ]


def test_outdated_indexes_on_this_host_are_rescanned_once_and_searchable_again(
    alice: Caller, roots: Path, tmp_path: Path
) -> None:
    done: set[str] = set()
    current = scanned(alice, write(roots / "current", PYTHON_WEB_APP), done)
    assert project(current)["search_index"]["schema"] == index.SCHEMA_VERSION
    older = scanned(alice, write(roots / "older", PYTHON_WEB_APP), done)
    unmarked = scanned(alice, write(roots / "unmarked", PYTHON_WEB_APP), done)
    failed = scanned(alice, write(roots / "failed", PYTHON_WEB_APP), done)
    elsewhere = scanned(alice, write(roots / "elsewhere", PYTHON_WEB_APP), done)
    as_an_older_scanner_left_it(older, tmp_path, schema="1")
    as_an_older_scanner_left_it(unmarked, tmp_path, schema=None)  # before references named a schema
    as_an_older_scanner_left_it(failed, tmp_path, schema="1")
    set_attributes(failed, scan_status="failed", scan_message="path is outside the host's roots")
    as_an_older_scanner_left_it(elsewhere, tmp_path, schema="1")
    set_attributes(elsewhere, host="other")
    assert hits(alice, older) == [] and hits(alice, unmarked) == []  # search skips the old layout

    assert rescan_outdated_indexes(host="local", tenant="alice") == {"requested": [older, unmarked]}
    assert {project(i)["scan_status"] for i in (older, unmarked)} == {"queued"}
    assert rescan_outdated_indexes(host="local", tenant="alice") == {"requested": []}  # already queued
    assert project(failed)["scan_status"] == "failed" and project(elsewhere)["scan_status"] == "completed"

    run_scan_jobs("alice", done)
    for rebuilt in (older, unmarked):
        assert project(rebuilt)["search_index"]["schema"] == index.SCHEMA_VERSION
        assert hits(alice, rebuilt) == hits(alice, current) != []  # the same tree, found again
    assert rescan_outdated_indexes(host="local", tenant="alice") == {"requested": []}
