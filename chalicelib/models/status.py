from __future__ import annotations

from chalicelib.models.common import Out


class Health(Out):
    status: str
    timestamp: str


class SystemStatus(Out):
    cpu_percent: float
    memory_percent: float
    disk_percent: float
    active_deployments: int
    total_projects: int
    recent_errors: int
    uptime_seconds: int
