from __future__ import annotations

from chalicelib import clock, status
from chalicelib.api.routing import Req, Router
from chalicelib.models.status import Health, SystemStatus

api = Router(__name__, tag="system")


@api.route("/health", scope=None, summary="Liveness (public)", response=Health)
def health(req: Req) -> Health:
    return Health(status="healthy", timestamp=clock.iso(clock.now()))


@api.route("/api/v1/status", summary="System overview", response=SystemStatus)
def system_status(req: Req) -> SystemStatus:
    return status.system_status(req.tenant)
