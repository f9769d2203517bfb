"""What GET /metrics exposes for one tenant: host gauges from the latest heartbeats, deployments by
status from the DEPLOY header counters, and RQ queue depths as the hosts last saw them (the API never
talks to Redis). Counter contract for the deployments domain: the DEPLOY header item holds
`status_<status>` integer attributes (e.g. `status_running`) and `active`."""

from __future__ import annotations

from chalicelib import clock, hosts
from chalicelib.prometheus import Family, render
from chalicelib.store import keys
from chalicelib.store.table import get_store

DEPLOYMENT_KIND = "DEPLOY"
STATUS_PREFIX = "status_"


def deployment_counters(tenant: str) -> dict[str, int]:
    pk = keys.tenant_pk(tenant)
    counters: dict[str, int] = {}
    headers = get_store().batch_get(
        [(pk, keys.header_sk(DEPLOYMENT_KIND)), (pk, keys.header_sk(DEPLOYMENT_KIND, newest_first=True))]
    )
    for header in headers:
        for attr, value in header.items():
            if attr.startswith(STATUS_PREFIX) or attr == "active":
                counters[attr] = counters.get(attr, 0) + int(value)
    return counters


def families(tenant: str) -> list[Family]:
    now = clock.now()
    items = hosts.all_items(tenant)
    outs = [hosts.to_out(item, now) for item in items]
    up = Family("borgos_host_up", "gauge", "1 when the host's last heartbeat is recent, else 0")
    age = Family("borgos_host_heartbeat_age_seconds", "gauge", "Seconds since the host's last heartbeat")
    cpu = Family("borgos_host_cpu_percent", "gauge", "Host CPU use in percent")
    memory = Family("borgos_host_memory_percent", "gauge", "Host memory use in percent")
    disk = Family("borgos_host_disk_percent", "gauge", "Host root disk use in percent")
    cpus = Family("borgos_host_cpu_count", "gauge", "CPUs of the host")
    memory_bytes = Family("borgos_host_memory_bytes", "gauge", "Memory of the host in bytes")
    containers = Family("borgos_host_containers", "gauge", "Containers on the host's engine by state")
    queue = Family("borgos_queue_depth", "gauge", "Jobs waiting in an RQ queue, as last reported by a host")
    shared_queues: dict[str, tuple[float, int]] = {}
    for out in outs:
        up.add(1 if out.status == "online" else 0, host=out.name)
        if out.heartbeat_age_seconds is not None:
            age.add(out.heartbeat_age_seconds, host=out.name)
        cpus.add(out.cpu_count, host=out.name)
        memory_bytes.add(out.memory_bytes, host=out.name)
        metrics = out.metrics
        if metrics is None:
            continue
        cpu.add(metrics.cpu_percent, host=out.name)
        memory.add(metrics.memory_percent, host=out.name)
        disk.add(metrics.disk_percent, host=out.name)
        containers.add(metrics.containers_running, host=out.name, state="running")
        containers.add(metrics.containers_total, host=out.name, state="total")
        containers.add(metrics.containers_managed, host=out.name, state="managed")
        freshness = -(out.heartbeat_age_seconds or 0.0)
        for name, depth in metrics.queue_depth.items():
            # A shared queue is reported by every host: the freshest report wins.
            if name not in shared_queues or freshness > shared_queues[name][0]:
                shared_queues[name] = (freshness, depth)
    for name, (_, depth) in sorted(shared_queues.items()):
        queue.add(depth, queue=name)
    online = sum(1 for out in outs if out.status == "online")
    host_count = Family("borgos_hosts", "gauge", "Worker hosts by status")
    host_count.add(online, status="online").add(len(outs) - online, status="offline")
    deployments = Family("borgos_deployments", "gauge", "Deployments by status")
    active = Family("borgos_deployments_active", "gauge", "Deployments that should be running")
    counters = deployment_counters(tenant)
    for attr, value in sorted(counters.items()):
        if attr.startswith(STATUS_PREFIX):
            deployments.add(value, status=attr[len(STATUS_PREFIX) :])
    active.add(counters.get("active", 0))
    return [
        host_count,
        up,
        age,
        cpu,
        memory,
        disk,
        cpus,
        memory_bytes,
        containers,
        queue,
        deployments,
        active,
    ]


def exposition(tenant: str) -> str:
    return render(families(tenant))
