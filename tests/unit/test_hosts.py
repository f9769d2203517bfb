"""Hosts domain and API: registration, heartbeats, online/offline transitions with one event each."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import clock, hosts
from chalicelib.models.hosts import HostMetrics, HostRegistration
from chalicelib.store import keys
from chalicelib.store.table import get_store
from tests.unit.conftest import Caller, body

T0 = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    fake = Clock()
    monkeypatch.setattr(clock, "now", lambda: fake.now)
    yield fake


def registration(name: str = "alpha") -> HostRegistration:
    return HostRegistration(
        name=name, address="10.0.0.5", cpu_count=4, memory_bytes=8 * 1024**3, docker_version="24.0"
    )


def metrics(cpu: float = 10.0, **extra: Any) -> HostMetrics:
    return HostMetrics(cpu_percent=cpu, memory_percent=40.0, disk_percent=70.0, uptime_seconds=100, **extra)


def host_events(tenant: str) -> list[dict[str, Any]]:
    page = get_store().query_page(pk=keys.tenant_pk(tenant), sk_prefix="EVENT#", limit=100)
    return [
        {
            "type": e["type"],
            "name": e["name"],
            "channel": e["channel"],
            **{k: e["data"][k] for k in ("name", "status")},
        }
        for e in page.items
        if e["type"] == "host_status"
    ]


def test_register_heartbeat_and_transitions_emit_one_event_each(aws: None, frozen: Clock) -> None:
    out = hosts.register_host("acme", registration())
    assert out.status == "online" and out.metrics is None and out.heartbeat_age_seconds == 0
    for _ in range(3):
        frozen.advance(15)
        hosts.record_heartbeat("acme", "alpha", metrics(cpu=12.5, listening_ports=[22, 8080]))
    assert [(e["name"], e["status"]) for e in host_events("acme")] == [("alpha", "online")]
    assert host_events("acme")[0]["type"] == "host_status" and host_events("acme")[0]["channel"] == "hosts"
    assert hosts.listening_ports("acme", "alpha") == {22, 8080}

    frozen.advance(46)
    assert hosts.get_host("acme", "alpha").status == "offline"  # by age, before anyone sweeps
    assert hosts.sweep_offline("acme") == ["alpha"]
    assert hosts.sweep_offline("acme") == []  # already offline: no second event
    frozen.advance(1)
    back = hosts.record_heartbeat("acme", "alpha", metrics())
    assert back.status == "online"
    statuses = [(e["name"], e["status"]) for e in host_events("acme")]
    assert statuses == [("alpha", "online"), ("alpha", "offline"), ("alpha", "online")]
    names = [
        e["name"]
        for e in get_store().query_page(pk=keys.tenant_pk("acme"), sk_prefix="EVENT#", limit=9).items
    ]
    assert names == ["host.online", "host.offline", "host.online"]


def test_sweep_leaves_fresh_hosts_and_clean_shutdown_goes_offline(aws: None, frozen: Clock) -> None:
    hosts.register_host("acme", registration("alpha"))
    hosts.register_host("acme", registration("beta"))
    frozen.advance(30)
    assert hosts.sweep_offline("acme") == []
    assert hosts.mark_offline("acme", "beta") is True
    assert hosts.mark_offline("acme", "beta") is False
    assert {h.name: h.status for h in hosts.online_hosts("acme")} == {"alpha": "online"}


def test_heartbeat_of_unknown_host_is_not_found(aws: None) -> None:
    from chalicelib.errors import NotFound

    with pytest.raises(NotFound):
        hosts.record_heartbeat("acme", "ghost", metrics())
    assert hosts.all_items("acme") == []


def test_reregistering_keeps_one_item_and_counts_once(aws: None, frozen: Clock) -> None:
    hosts.register_host("acme", registration())
    frozen.advance(5)
    again = hosts.register_host("acme", registration().model_copy(update={"cpu_count": 8}))
    assert again.cpu_count == 8
    assert hosts.count_hosts("acme") == 1
    assert [(e["status"]) for e in host_events("acme")] == ["online"]  # it never went offline


def test_hosts_api(alice: Caller, bob: Caller, frozen: Clock) -> None:
    hosts.register_host("alice", registration("alpha"))
    hosts.register_host("alice", registration("beta"))
    hosts.record_heartbeat("alice", "alpha", metrics(cpu=20.0, queue_depth={"default": 2}))
    frozen.advance(60)
    hosts.record_heartbeat("alice", "alpha", metrics(cpu=30.0))
    listed = body(alice.get("/api/v1/hosts"))
    assert [(h["name"], h["status"]) for h in listed] == [("alpha", "online"), ("beta", "offline")]
    one = body(alice.get("/api/v1/hosts/alpha"))
    assert one["metrics"]["cpu_percent"] == 30.0 and one["cpu_count"] == 4 and one["docker_version"] == "24.0"
    assert one["heartbeat_age_seconds"] == 0.0 and one["tenant"] == "alice"
    page = body(alice.get("/api/v1/hosts?limit=1"))
    assert page["pagination"]["total"] == 2 and page["pagination"]["has_more"] is True
    missing = alice.get("/api/v1/hosts/nope")
    assert missing.status_code == 404 and body(missing)["code"] == "NOT_FOUND"
    assert body(bob.get("/api/v1/hosts")) == []  # another tenant's hosts stay invisible
    assert bob.get("/api/v1/hosts/alpha").status_code == 404


def test_status_takes_load_from_online_hosts(alice: Caller, frozen: Clock) -> None:
    hosts.register_host("alice", registration("alpha"))
    hosts.register_host("alice", registration("beta"))
    hosts.register_host("alice", registration("gamma"))
    hosts.record_heartbeat(
        "alice", "alpha", HostMetrics(cpu_percent=10, memory_percent=20, disk_percent=30, uptime_seconds=50)
    )
    hosts.record_heartbeat(
        "alice", "beta", HostMetrics(cpu_percent=30, memory_percent=40, disk_percent=50, uptime_seconds=90)
    )
    hosts.mark_offline("alice", "gamma")
    status = body(alice.get("/api/v1/status"))
    assert (status["cpu_percent"], status["memory_percent"], status["disk_percent"]) == (20.0, 30.0, 40.0)
    assert status["uptime_seconds"] == 90
