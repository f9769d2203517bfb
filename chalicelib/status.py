"""The system overview of GET /api/v1/status: the tenant's counts plus host load."""

from __future__ import annotations

import time

from chalicelib import errorlog, hosts
from chalicelib.models.status import SystemStatus
from chalicelib.projects import KIND as PROJECT_KIND
from chalicelib.store import keys
from chalicelib.store.table import get_store

DEPLOYMENT_KIND = "DEPLOY"


def local_host_load() -> dict[str, float | int]:
    """CPU, memory and disk of the machine answering, used until worker hosts report their own."""
    import psutil

    return {
        "cpu_percent": psutil.cpu_percent(interval=0.05),
        "memory_percent": psutil.virtual_memory().percent,
        "disk_percent": psutil.disk_usage("/").percent,
        "uptime_seconds": int(time.time() - psutil.boot_time()),
    }


def hosts_load(tenant: str) -> dict[str, float | int] | None:
    """The mean load of the tenant's online worker hosts (the longest uptime); None without any."""
    online = [host for host in hosts.online_hosts(tenant) if host.metrics is not None]
    if not online:
        return None
    metrics = [host.metrics for host in online if host.metrics is not None]
    return {
        "cpu_percent": round(sum(m.cpu_percent for m in metrics) / len(metrics), 1),
        "memory_percent": round(sum(m.memory_percent for m in metrics) / len(metrics), 1),
        "disk_percent": round(sum(m.disk_percent for m in metrics) / len(metrics), 1),
        "uptime_seconds": max(m.uptime_seconds for m in metrics),
    }


def system_status(tenant: str) -> SystemStatus:
    store = get_store()
    pk = keys.tenant_pk(tenant)
    headers = {
        item["SK"]: item
        for item in store.batch_get(
            [(pk, keys.header_sk(PROJECT_KIND)), (pk, keys.header_sk(DEPLOYMENT_KIND))]
        )
    }
    return SystemStatus(
        # Without an online worker host (a single-machine setup), the machine answering reports.
        **(hosts_load(tenant) or local_host_load()),
        total_projects=int(headers.get(keys.header_sk(PROJECT_KIND), {}).get("count", 0)),
        active_deployments=int(headers.get(keys.header_sk(DEPLOYMENT_KIND), {}).get("active", 0)),
        recent_errors=errorlog.count_recent(tenant),
    )
