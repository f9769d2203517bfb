"""RQ job functions for scans (queue `host.<name>`: they run where the project's files are)."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
from typing import Any

from chalicelib import paths, scans
from chalicelib.config import get_settings
from chalicelib.errors import NotFound
from chalicelib.logs import logger
from chalicelib.search import index, storage
from workers.scan.scanner import scan


def _host_copy(key: str) -> str:
    """The host keeps the last index it wrote per project, so a rescan starts from it."""
    directory = os.path.join(get_settings().search_cache_dir, "host")
    os.makedirs(directory, exist_ok=True)
    return os.path.join(directory, hashlib.sha256(key.encode()).hexdigest()[:32] + ".sqlite")


def scan_project(tenant: str, project_id: int, scan_id: str) -> dict[str, Any]:
    try:
        project = scans.start(tenant, project_id, scan_id)
    except NotFound:
        logger.info("scan of a deleted project skipped", extra={"tenant": tenant, "project_id": project_id})
        return {"status": "gone"}
    settings = get_settings()
    try:
        root = paths.resolve_under_roots(project["path"], settings.project_roots)
    except paths.PathRefused as exc:
        scans.fail(tenant, project_id, scan_id, str(exc))
        logger.warning("scan refused", extra={"tenant": tenant, "project_id": project_id, "reason": str(exc)})
        return {"status": "failed", "message": str(exc)}
    key = storage.index_key(tenant, project_id)
    kept = _host_copy(key)
    with open(kept + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two workers on one host never update one index at once
        try:
            with tempfile.TemporaryDirectory(prefix="borgos-scan-") as work:
                working = os.path.join(work, "code.sqlite")
                if os.path.exists(kept):
                    shutil.copyfile(kept, working)
                elif project.get("search_index"):
                    storage.download(project["search_index"]["key"], working)
                outcome = scan(root, working, max_bytes=settings.scan_max_file_bytes)
                reference = {**storage.upload(tenant, project_id, working), "schema": index.SCHEMA_VERSION}
                try:
                    scans.complete(tenant, project_id, scan_id, outcome.summary, reference)
                except NotFound:  # deleted while we scanned: its index must not outlive it
                    storage.delete(reference["key"])
                    return {"status": "gone"}
                os.replace(working, kept)
        except Exception as exc:
            scans.fail(tenant, project_id, scan_id, f"scan failed: {type(exc).__name__}: {exc}")
            raise
    logger.info(
        "scan completed",
        extra={
            "tenant": tenant,
            "project_id": project_id,
            "files_read": outcome.files_read,
            "files_reused": outcome.files_reused,
            "seconds": round(outcome.seconds, 3),
        },
    )
    return {
        "status": "completed",
        "files_read": outcome.files_read,
        "files_reused": outcome.files_reused,
        "files_removed": outcome.files_removed,
        "errors": outcome.summary["error_total"],
    }


def rescan_outdated_indexes(host: str, tenant: str) -> dict[str, Any]:
    """Periodic (workers/periodic.py): request a scan of every project on this host whose index
    an older scanner wrote, so code search finds its lines again without anyone asking."""
    requested = []
    for project_id in scans.outdated_indexes(tenant, host, index.SCHEMA_VERSION):
        try:
            scans.request_scan(tenant, project_id)
        except NotFound:  # deleted since the listing
            continue
        requested.append(project_id)
    if requested:
        logger.info(
            "rescans requested for outdated code indexes",
            extra={"tenant": tenant, "host": host, "project_ids": requested, "schema": index.SCHEMA_VERSION},
        )
    return {"requested": requested}
