from __future__ import annotations

from chalicelib import scans, zenith
from chalicelib.api.routing import Reply, Req, Router
from chalicelib.models.common import Message
from chalicelib.models.search import ZenithSync

api = Router(__name__, tag="projects")


@api.route(
    "/api/v1/projects/scan-zenith",
    "POST",
    scope="write",
    summary="Discover, sync and scan the Zenith Coder projects under the project roots",
    response=ZenithSync,
)
def scan_zenith(req: Req) -> dict:
    return zenith.sync(req.tenant)


@api.route(
    "/api/v1/projects/{id}/scan",
    "POST",
    scope="write",
    summary="Scan a project on its host (answers at once; scan_status and scan_completed follow)",
    response=Message,
    status=202,
)
def scan_project(req: Req) -> Reply:
    return Reply(scans.request_scan(req.tenant, req.path["id"]), 202)
