"""Scans: a request writes the project's scan state and a job for the project's host in one
transaction; the job (workers/scan_jobs.py, on the host) reports back through `start`, `complete`
and `fail`. docs/scanning.md describes the whole flow."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from chalicelib import clock, errorlog, events, jobs
from chalicelib.config import get_settings
from chalicelib.errors import Conflict, NotFound
from chalicelib.models.common import message
from chalicelib.projects import get_item
from chalicelib.store import keys
from chalicelib.store.table import Tx, get_store

SCAN_JOB = "workers.scan_jobs.scan_project"
SCAN_TIMEOUT_SECONDS = 1800
# Findings beyond these stay in the project's `errors` list only (a transaction holds 100 items).
MAX_LOGGED_ERRORS = 20
_RETRIES = 5
ADD = "_add"  # key of the counters a change adds to, beside the attributes it sets


def project_host(project: dict[str, Any]) -> str:
    return str(project.get("host") or get_settings().default_host)


def _change_project(
    tenant: str, project_id: int, change: Callable[[Tx, dict[str, Any]], dict[str, Any] | None]
) -> dict[str, Any] | None:
    """Read the project, let `change` add its writes (returning the attributes to set, or None to
    write nothing), commit with a version check, and start over if the project changed meanwhile."""
    store = get_store()
    for _ in range(_RETRIES):
        current = get_item(tenant, project_id)
        conflict = Conflict(f"Project {project_id} changed meanwhile; retry")

        def build(
            tx: Tx, current: dict[str, Any] = current, conflict: Conflict = conflict
        ) -> dict[str, Any] | None:
            assignments = change(tx, current)
            if assignments is None:
                return None
            additions = assignments.pop(ADD, None)
            assignments = {**assignments, "updated_at": clock.iso(tx.now), "version": current["version"] + 1}
            tx.update(
                tx.pk,
                current["SK"],
                set=assignments,
                add=additions,
                if_version=current["version"],
                on_fail=conflict,
            )
            return {**current, **assignments}

        try:
            return store.commit(tenant, build)
        except Conflict as exc:
            if exc is not conflict:
                raise
    raise Conflict(f"Project {project_id} keeps changing; retry the scan")


def request_scan(tenant: str, project_id: int) -> dict[str, Any]:
    """Queue a scan of the project on its host; answers at once."""
    scan_id = uuid.uuid4().hex

    def change(tx: Tx, project: dict[str, Any]) -> dict[str, Any]:
        jobs.request_job(
            tx,
            function=SCAN_JOB,
            kwargs={"tenant": tenant, "project_id": project_id, "scan_id": scan_id},
            queue=jobs.host_queue(project_host(project)),
            timeout_seconds=SCAN_TIMEOUT_SECONDS,
        )
        return {"scan_status": "queued", "scan_id": scan_id, "scan_requested_at": clock.iso(tx.now)}

    _change_project(tenant, project_id, change)
    return message(f"Scan initiated for project {project_id}")


def outdated_indexes(tenant: str, host: str, schema: str) -> list[int]:
    """Ids of the projects on `host` whose code index is not of `schema` (the layout this code
    writes) and that no scan is about to rewrite: search skips such an index, so each needs one
    rescan. A reference without `schema` predates the field. A project whose last scan failed is
    left to its owner: a rescan would most likely fail the same way, every time it is tried."""
    from chalicelib.search.tenant import all_projects

    return [
        int(project["id"])
        for project in all_projects(tenant)
        if project_host(project) == host
        and project.get("search_index")
        and project["search_index"].get("schema") != schema
        and project.get("scan_status") in (None, "completed")
    ]


def start(tenant: str, project_id: int, scan_id: str) -> dict[str, Any]:
    """The job began: state `running` (unless a newer scan was requested meanwhile)."""

    def change(tx: Tx, project: dict[str, Any]) -> dict[str, Any] | None:
        if project.get("scan_id") != scan_id:
            return None
        return {"scan_status": "running", "scan_started_at": clock.iso(tx.now)}

    return _change_project(tenant, project_id, change) or get_item(tenant, project_id)


def fail(tenant: str, project_id: int, scan_id: str, reason: str) -> None:
    def change(tx: Tx, project: dict[str, Any]) -> dict[str, Any] | None:
        if project.get("scan_id") != scan_id:
            return None
        events.scan_event(tx, "failed", {"project_id": project_id, "scan_id": scan_id, "message": reason})
        return {"scan_status": "failed", "scan_message": reason[:1000]}

    _change_project(tenant, project_id, change)


def complete(
    tenant: str, project_id: int, scan_id: str, summary: dict[str, Any], search_index: dict[str, Any] | None
) -> dict[str, Any]:
    """Write a finished scan onto the project: stack, scores, errors, metadata, the search index's
    reference; replace the previous scan's entries in the error log with this scan's; emit
    scan_completed. One transaction: readers see the old scan or the new one, never half of each."""
    for _ in range(_RETRIES):
        try:
            return _complete(tenant, project_id, scan_id, summary, search_index)
        except _ErrorLogMoved:
            continue  # an old entry expired between reading and writing: read again
    raise Conflict("The error log keeps changing; retry the scan")


class _ErrorLogMoved(Conflict):
    pass


def _complete(
    tenant: str, project_id: int, scan_id: str, summary: dict[str, Any], search_index: dict[str, Any] | None
) -> dict[str, Any]:
    store = get_store()
    pk = keys.tenant_pk(tenant)
    previous_keys = get_item(tenant, project_id).get("scan_error_keys") or []
    # Entries the TTL already removed were taken off the counters by the stream (stream.py).
    still_there = store.batch_get([(pk, sk) for sk in previous_keys]) if previous_keys else []
    new_errors = summary["errors"]

    def change(tx: Tx, project: dict[str, Any]) -> dict[str, Any]:
        for old in still_there:
            tx.delete(pk, old["SK"], on_fail=_ErrorLogMoved("The error log changed meanwhile"))
            tx.count(errorlog.KIND, delta=-1, newest_first=True)
            tx.count(errorlog.KIND, f"severity_{old['severity']}", -1, newest_first=True)
        logged = []
        for error in new_errors[:MAX_LOGGED_ERRORS]:
            where = f"{error['file']}:{error['line']}" if error.get("line") else error["file"]
            public = errorlog.record(
                tx,
                project,
                {
                    "error_type": error["type"],
                    "severity": "error",
                    "message": f"{where}: {error['message']}",
                    "context": {
                        "source": "scan",
                        "scan_id": scan_id,
                        "file": error["file"],
                        "line": error["line"],
                    },
                    "occurred_at": tx.now,
                },
                count_on_project=False,
            )
            logged.append(errorlog.error_sk(tx.now, public["id"]))
        now = clock.iso(tx.now)
        current_scan = project.get("scan_id") == scan_id
        metadata = {**(project.get("metadata") or {}), **summary["metadata"]}
        events.scan_event(
            tx,
            "completed",
            {
                "project_id": project_id,
                "scan_id": scan_id,
                "tech_stack": summary["tech_stack"],
                "health_score": summary["health_score"],
                "vibe_score": summary["vibe_score"],
                "eco_score": summary["eco_score"],
                "errors": summary["error_total"],
                "lines_of_code": summary["metadata"]["lines_of_code"],
            },
        )
        return {
            "tech_stack": summary["tech_stack"],
            "health_score": summary["health_score"],
            "vibe_score": summary["vibe_score"],
            "eco_score": summary["eco_score"],
            "errors": new_errors,
            "metadata": metadata,
            "readme": summary.get("readme", "")[:4000],
            "search_index": search_index,
            "scan_error_keys": logged,
            "last_scan_at": now,
            "last_scan_id": scan_id,
            **({"scan_status": "completed", "scan_message": None} if current_scan else {}),
            ADD: {"error_count": len(logged) - len(still_there)},
        }

    result = _change_project(tenant, project_id, change)
    if result is None:  # pragma: no cover - change always writes
        raise NotFound.entity("Project", project_id)
    return result
