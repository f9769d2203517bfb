"""GET /metrics: Prometheus text exposition, its own scope, host gauges, deployment counters."""

from __future__ import annotations

import pytest
from chalice.test import Client

from chalicelib import hosts
from chalicelib.models.hosts import HostMetrics, HostRegistration
from chalicelib.prometheus import Family, escape_label, format_value, render
from chalicelib.store import keys
from chalicelib.store.table import get_store
from tests.unit.conftest import Caller, issue


def test_render_escapes_and_documents_each_family() -> None:
    family = Family("borgos_x", "gauge", "Help with \\ and\nnewline")
    family.add(1.5, host='we"ird\\name\n')
    family.add(2)
    text = render([family, Family("borgos_empty", "counter", "nothing yet")])
    assert text == (
        "# HELP borgos_x Help with \\\\ and\\nnewline\n"
        "# TYPE borgos_x gauge\n"
        'borgos_x{host="we\\"ird\\\\name\\n"} 1.5\n'
        "borgos_x 2\n"
        "# HELP borgos_empty nothing yet\n"
        "# TYPE borgos_empty counter\n"
    )
    assert escape_label("plain") == "plain"
    assert [format_value(v) for v in (float("nan"), float("inf"), float("-inf"), 3.0, 0.25)] == [
        "NaN",
        "+Inf",
        "-Inf",
        "3",
        "0.25",
    ]
    with pytest.raises(ValueError):
        render([Family("bad-name", "gauge", "x")])
    with pytest.raises(ValueError):
        render([Family("ok", "gauge", "x").add(1, **{"__reserved": "x"})])


def test_metrics_needs_the_metrics_scope(client: Client, alice: Caller, admin: Caller) -> None:
    assert client.http.get("/metrics").status_code == 401
    refused = alice.get("/metrics")
    assert refused.status_code == 403 and b"metrics" in refused.body
    assert admin.get("/metrics").status_code == 200  # admin implies every scope
    scoped = Caller(client, issue("alice", ["metrics"]))
    response = scoped.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert scoped.get("/api/v1/projects").status_code == 403  # a metrics token reads nothing else


def test_metrics_expose_hosts_deployments_and_queues(client: Client) -> None:
    hosts.register_host("alice", HostRegistration(name="alpha", address="a", cpu_count=2, memory_bytes=1024))
    hosts.register_host("alice", HostRegistration(name="beta", address="b", cpu_count=1, memory_bytes=2048))
    hosts.record_heartbeat(
        "alice",
        "alpha",
        HostMetrics(
            cpu_percent=12.5,
            memory_percent=50,
            disk_percent=75,
            containers_running=3,
            containers_total=5,
            containers_managed=2,
            queue_depth={"host.alpha": 1, "default": 4},
        ),
    )
    hosts.mark_offline("alice", "beta")
    pk = keys.tenant_pk("alice")
    get_store().put(
        {"PK": pk, "SK": keys.header_sk("DEPLOY"), "status_running": 2, "status_failed": 1, "active": 2}
    )
    text = Caller(client, issue("alice", ["metrics"])).get("/metrics").body.decode()
    lines = set(text.splitlines())
    expected = {
        "# TYPE borgos_host_up gauge",
        'borgos_host_up{host="alpha"} 1',
        'borgos_host_up{host="beta"} 0',
        'borgos_hosts{status="online"} 1',
        'borgos_hosts{status="offline"} 1',
        'borgos_host_cpu_percent{host="alpha"} 12.5',
        'borgos_host_containers{host="alpha",state="running"} 3',
        'borgos_host_containers{host="alpha",state="managed"} 2',
        'borgos_queue_depth{queue="default"} 4',
        'borgos_queue_depth{queue="host.alpha"} 1',
        'borgos_deployments{status="running"} 2',
        'borgos_deployments{status="failed"} 1',
        "borgos_deployments_active 2",
    }
    assert expected <= lines, expected - lines
    other = Caller(client, issue("bob", ["metrics"])).get("/metrics").body.decode()
    assert "alpha" not in other and "borgos_deployments_active 0" in other
