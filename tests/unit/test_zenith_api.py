"""Zenith sync: markers under the roots become projects with their zenith_id, scanned; idempotent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.store import keys
from chalicelib.store.table import get_store
from tests.support.scan_trees import link, write, zenith_tree
from tests.unit.conftest import Caller, body
from tests.unit.scan_support import job_requests, roots, run_scan_jobs

__all__ = ["roots"]


def seq(tenant: str) -> int:
    meta = get_store().get(keys.tenant_pk(tenant), keys.META_SK) or {}
    return int(meta.get("seq", 0))


def test_zenith_projects_are_created_scanned_and_a_second_run_changes_nothing(
    alice: Caller, roots: Path, tmp_path: Path
) -> None:
    zenith_tree(roots)
    elsewhere = write(tmp_path / "elsewhere", {"x/.zenith/project.json": json.dumps({"id": "zen-out"})})
    link(elsewhere / "x", roots / "linked")  # a symlinked directory is never entered
    response = alice.post("/api/v1/projects/scan-zenith")
    assert response.status_code == 200
    assert body(response) == {"message": "Scanned and synced 2 Zenith projects", "count": 2}
    listed = {p["zenith_id"]: p for p in body(alice.get("/api/v1/projects"))}
    assert set(listed) == {"zen-alpha", "zen-beta"}
    alpha, beta = listed["zen-alpha"], listed["zen-beta"]
    assert (alpha["name"], alpha["path"], alpha["project_type"]) == ("Alpha", f"{roots}/alpha", "api")
    assert alpha["description"] == "Alpha service"
    assert (beta["name"], beta["path"], beta["project_type"]) == ("beta", f"{roots}/team/beta", "web")
    assert {p["scan_status"] for p in listed.values()} == {"queued"}
    run_scan_jobs("alice", set())
    scanned = {p["zenith_id"]: p for p in body(alice.get("/api/v1/projects"))}
    assert scanned["zen-alpha"]["tech_stack"] == ["python"] and scanned["zen-beta"]["tech_stack"] == [
        "javascript"
    ]
    assert {p["scan_status"] for p in scanned.values()} == {"completed"}

    before_seq, before_jobs = seq("alice"), len(job_requests("alice"))
    again = alice.post("/api/v1/projects/scan-zenith")
    assert body(again) == {"message": "Scanned and synced 2 Zenith projects", "count": 2}
    assert seq("alice") == before_seq and len(job_requests("alice")) == before_jobs
    assert body(alice.get("/api/v1/projects")) == list(scanned.values())


def test_a_changed_marker_updates_its_project_and_rescans_it(alice: Caller, roots: Path) -> None:
    zenith_tree(roots)
    alice.post("/api/v1/projects/scan-zenith")
    run_scan_jobs("alice", set())
    jobs_before = len(job_requests("alice"))
    (roots / "alpha" / ".zenith" / "project.json").write_text(
        json.dumps({"id": "zen-alpha", "name": "Alpha 2"})
    )
    alice.post("/api/v1/projects/scan-zenith")
    names = {p["zenith_id"]: p["name"] for p in body(alice.get("/api/v1/projects"))}
    assert names == {"zen-alpha": "Alpha 2", "zen-beta": "beta"}
    assert len(job_requests("alice")) == jobs_before + 1


def test_a_project_registered_by_hand_with_a_zenith_id_is_adopted(alice: Caller, roots: Path) -> None:
    zenith_tree(roots)
    alice.post("/api/v1/projects", {"name": "Alpha", "path": str(roots / "alpha"), "zenith_id": "zen-alpha"})
    alice.post("/api/v1/projects/scan-zenith")
    assert sorted(p["zenith_id"] for p in body(alice.get("/api/v1/projects"))) == ["zen-alpha", "zen-beta"]


def test_without_roots_scan_zenith_is_400_and_creates_nothing(
    alice: Caller, roots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.config import reset_settings

    zenith_tree(roots)
    monkeypatch.delenv("BORGOS_PROJECT_ROOTS")
    reset_settings()
    response = alice.post("/api/v1/projects/scan-zenith")
    assert response.status_code == 400 and "no project roots" in body(response)["message"]
    assert body(alice.get("/api/v1/projects")) == []


def test_roots_not_on_this_machine_are_503(
    alice: Caller, roots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.config import reset_settings

    monkeypatch.setenv("BORGOS_PROJECT_ROOTS", "/nonexistent/borgos-roots")
    reset_settings()
    response = alice.post("/api/v1/projects/scan-zenith")
    assert response.status_code == 503 and body(response)["code"] == "ROOTS_NOT_LOCAL"


def test_scan_zenith_needs_the_write_scope(alice: Caller, roots: Path) -> None:
    from tests.unit.conftest import issue

    reader = Caller(alice.client, issue("alice", ["read"]))
    assert reader.post("/api/v1/projects/scan-zenith").status_code == 403
