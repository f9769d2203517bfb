"""Zenith Coder projects: found by their marker file under the project roots, created or updated
with their `zenith_id`, and scanned. docs/scanning.md ("Zenith sync") has the marker format.

Discovery reads the roots' directories, so it runs where they are: in the API process when the
roots are local to it (the local stage: API and host on one machine). Elsewhere the endpoint
answers 503 ROOTS_NOT_LOCAL rather than pretending."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

from chalicelib import paths, projects, scans
from chalicelib.config import get_settings
from chalicelib.errors import DependencyUnavailable, ValidationFailed
from chalicelib.logs import logger
from chalicelib.models.common import message
from chalicelib.models.projects import ProjectCreate, ProjectUpdate
from chalicelib.search.tenant import all_projects

MARKER = ".zenith/project.json"
ACTIVE = ("queued", "running")  # scan states that need no new request
MAX_DEPTH = 4  # directories below a root searched for markers
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SKIPPED = frozenset({"node_modules", "vendor", "__pycache__", "venv", "site-packages", "dist", "build"})


@dataclass(frozen=True)
class ZenithProject:
    zenith_id: str
    path: str
    name: str
    description: str | None
    project_type: str


def read_marker(directory: str) -> ZenithProject | None:
    """The project a marker describes, or None (and a log line) when it is not a valid marker."""
    try:
        with open(os.path.join(directory, MARKER), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        logger.warning("zenith marker unreadable", extra={"directory": directory, "error": str(exc)})
        return None
    zenith_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(zenith_id, str) or not _ID.match(zenith_id):
        logger.warning("zenith marker without a valid id", extra={"directory": directory})
        return None
    name = data.get("name")
    description = data.get("description")
    project_type = data.get("project_type")
    return ZenithProject(
        zenith_id=zenith_id,
        path=directory,
        name=(name if isinstance(name, str) and name.strip() else os.path.basename(directory))[:128],
        description=description[:2000] if isinstance(description, str) else None,
        project_type=(project_type if isinstance(project_type, str) and project_type else "web")[:32],
    )


def discover(roots: tuple[str, ...]) -> list[ZenithProject]:
    """Zenith projects under the roots, by path; a marker's directory is not searched further and
    symlinked directories are never entered. The first directory claiming an id wins."""
    found: dict[str, ZenithProject] = {}
    for root in roots:
        _discover(paths.normalize(root), 0, found)
    return sorted(found.values(), key=lambda p: p.path)


def _discover(directory: str, depth: int, found: dict[str, ZenithProject]) -> None:
    if os.path.isfile(os.path.join(directory, MARKER)):
        project = read_marker(directory)
        if project is not None and project.zenith_id not in found:
            found[project.zenith_id] = project
        return
    if depth >= MAX_DEPTH:
        return
    try:
        with os.scandir(directory) as it:
            children = sorted(e.name for e in it if e.is_dir(follow_symlinks=False))
    except OSError:
        return
    for name in children:
        if not name.startswith(".") and name not in _SKIPPED:
            _discover(os.path.join(directory, name), depth + 1, found)


def sync(tenant: str) -> dict[str, Any]:
    """Create or update the tenant's projects from the markers, and scan what is new, changed or
    never scanned. A second run with nothing changed on disk writes nothing."""
    roots = get_settings().project_roots
    if not roots:
        raise ValidationFailed.field("roots", "no project roots are configured (BORGOS_PROJECT_ROOTS)")
    if not all(os.path.isdir(root) for root in roots):
        raise DependencyUnavailable(
            "The project roots are not on this machine; Zenith discovery runs where the roots are",
            code="ROOTS_NOT_LOCAL",
        )
    by_zenith = {item["zenith_id"]: item for item in all_projects(tenant) if item.get("zenith_id")}
    found = discover(roots)
    for project in found:
        wanted = {
            "name": project.name,
            "path": project.path,
            "description": project.description,
            "project_type": project.project_type,
        }
        current = by_zenith.get(project.zenith_id)
        if current is None:
            created = projects.create_project(tenant, ProjectCreate(**wanted, zenith_id=project.zenith_id))
            scans.request_scan(tenant, created.id)
            continue
        changes = {k: v for k, v in wanted.items() if current.get(k) != v}
        if changes:
            projects.update_project(tenant, current["id"], ProjectUpdate(**changes))
        never_scanned = not current.get("last_scan_at") and current.get("scan_status") not in ACTIVE
        if changes or never_scanned:
            scans.request_scan(tenant, current["id"])
    return message(f"Scanned and synced {len(found)} Zenith projects", count=len(found))
