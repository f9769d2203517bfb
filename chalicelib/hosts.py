"""Worker hosts of a tenant: registration, heartbeats and online/offline status.

A host item lives at `T#<tenant>` / `HOST#<name>`. The host writes a heartbeat every 15 s; a host
whose last heartbeat is older than OFFLINE_AFTER is offline whatever the item says. The stored
`status` only changes on a transition (register, first heartbeat after silence, sweep, clean
shutdown), and each transition writes one `host_status` event; the `version` condition makes sure
two writers racing on the same transition produce one event."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any

from chalicelib import clock, events
from chalicelib.errors import Conflict, NotFound
from chalicelib.models.hosts import HostMetrics, HostOut, HostRegistration
from chalicelib.store import keys
from chalicelib.store.table import Page, Tx, get_store

KIND = "HOST"
OFFLINE_AFTER = timedelta(seconds=45)
_ATTEMPTS = 5


class _Changed(Conflict):
    """The host item moved under us; read it again."""


def host_sk(name: str) -> str:
    return f"{KIND}#{name}"


def _age(item: dict[str, Any], now: datetime) -> float | None:
    if item.get("heartbeat_at") is None:
        return None
    return max(0.0, now.timestamp() - float(item["heartbeat_at"]))


def effective_status(item: dict[str, Any], now: datetime | None = None) -> str:
    age = _age(item, now or clock.now())
    if item.get("status") != "online" or age is None or age > OFFLINE_AFTER.total_seconds():
        return "offline"
    return "online"


def to_out(item: dict[str, Any], now: datetime | None = None) -> HostOut:
    now = now or clock.now()
    age = _age(item, now)
    return HostOut(
        name=item["name"],
        tenant=item["tenant"],
        address=item["address"],
        cpu_count=int(item["cpu_count"]),
        memory_bytes=int(item["memory_bytes"]),
        docker_version=item.get("docker_version"),
        status=effective_status(item, now),
        registered_at=item["registered_at"],
        last_heartbeat=item.get("last_heartbeat"),
        heartbeat_age_seconds=round(age, 3) if age is not None else None,
        metrics=HostMetrics.model_validate(item["metrics"]) if item.get("metrics") else None,
    )


def _event_data(item: dict[str, Any], status: str, previous: str | None) -> dict[str, Any]:
    return {
        "name": item["name"],
        "status": status,
        "previous": previous,
        "address": item.get("address"),
        "last_heartbeat": item.get("last_heartbeat"),
    }


def get_item(tenant: str, name: str) -> dict[str, Any]:
    item = get_store().get(keys.tenant_pk(tenant), host_sk(name))
    if not item:
        raise NotFound(f"Host {name} not found")
    return item


def get_host(tenant: str, name: str) -> HostOut:
    return to_out(get_item(tenant, name))


def list_hosts(tenant: str, *, limit: int, offset: int, cursor: str | None) -> tuple[list[HostOut], Page]:
    page = get_store().query_page(
        pk=keys.tenant_pk(tenant),
        sk_prefix=f"{KIND}#",
        header_sk=keys.header_sk(KIND),
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    now = clock.now()
    return [to_out(item, now) for item in page.items if item.get("entity") == "host"], page


def count_hosts(tenant: str) -> int:
    header = get_store().get(keys.tenant_pk(tenant), keys.header_sk(KIND))
    return int((header or {}).get("count", 0))


def all_items(tenant: str) -> list[dict[str, Any]]:
    """Every host of the tenant (a tenant has a handful; pages are followed to the end)."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = get_store().query_page(
            pk=keys.tenant_pk(tenant), sk_prefix=f"{KIND}#", limit=100, cursor=cursor
        )
        items.extend(item for item in page.items if item.get("entity") == "host")
        if not page.next_cursor:
            return items
        cursor = page.next_cursor


def online_hosts(tenant: str) -> list[HostOut]:
    now = clock.now()
    return [out for out in (to_out(item, now) for item in all_items(tenant)) if out.status == "online"]


def listening_ports(tenant: str, name: str) -> set[int]:
    """TCP ports the host reported in its last heartbeat (the API's PORT_IN_USE check)."""
    item = get_item(tenant, name)
    return {int(port) for port in (item.get("metrics") or {}).get("listening_ports", [])}


def register_host(tenant: str, registration: HostRegistration) -> HostOut:
    """Create or refresh the host; it is online from now on (one event when it was not)."""
    for _ in range(_ATTEMPTS):
        current = get_store().get(keys.tenant_pk(tenant), host_sk(registration.name))
        try:
            return to_out(
                get_store().commit(tenant, partial(_register, registration=registration, current=current))
            )
        except _Changed:
            continue
    raise Conflict(f"Host {registration.name} keeps changing; try again")


def _register(tx: Tx, registration: HostRegistration, current: dict[str, Any] | None) -> dict[str, Any]:
    now = clock.iso(tx.now)
    item = {
        **(current or {}),
        "PK": tx.pk,
        "SK": host_sk(registration.name),
        "entity": "host",
        "tenant": tx.tenant,
        **registration.model_dump(),
        "registered_at": now,
        "last_heartbeat": now,
        "heartbeat_at": tx.now.timestamp(),
        "status": "online",
        "version": int((current or {}).get("version", 0)) + 1,
    }
    if current is None:
        tx.put(item, create_only=True, on_fail=_Changed("host created meanwhile"))
        tx.count(KIND)
    else:
        tx.update(
            tx.pk,
            item["SK"],
            set={k: v for k, v in item.items() if k not in ("PK", "SK")},
            if_version=int(current.get("version", 0)),
            on_fail=_Changed("host changed meanwhile"),
        )
    previous = effective_status(current, tx.now) if current else None
    if previous != "online":
        events.host_status(tx, _event_data(item, "online", previous))
    return item


def record_heartbeat(tenant: str, name: str, metrics: HostMetrics) -> HostOut:
    """Store the latest metrics; NotFound when the host never registered (it should register)."""
    for _ in range(_ATTEMPTS):
        current = get_item(tenant, name)
        try:
            return to_out(get_store().commit(tenant, partial(_heartbeat, current=current, metrics=metrics)))
        except _Changed:
            continue
    raise Conflict(f"Host {name} keeps changing; try again")


def _heartbeat(tx: Tx, current: dict[str, Any], metrics: HostMetrics) -> dict[str, Any]:
    changes = {
        "metrics": metrics.model_dump(),
        "last_heartbeat": clock.iso(tx.now),
        "heartbeat_at": tx.now.timestamp(),
        "status": "online",
        "version": int(current.get("version", 0)) + 1,
    }
    tx.update(
        tx.pk,
        current["SK"],
        set=changes,
        if_version=int(current.get("version", 0)),
        on_fail=_Changed("host changed meanwhile"),
    )
    item = {**current, **changes}
    previous = effective_status(current, tx.now)
    if previous != "online":
        events.host_status(tx, _event_data(item, "online", previous))
    return item


def mark_offline(tenant: str, name: str, *, only_if_stale: bool = False) -> bool:
    """Turn the host offline (clean shutdown, or a sweep when `only_if_stale`); True when this call
    made the transition and wrote the event."""
    current = get_store().get(keys.tenant_pk(tenant), host_sk(name))
    if not current or current.get("status") != "online":
        return False
    if only_if_stale and effective_status(current) == "online":
        return False

    def build(tx: Tx) -> None:
        tx.update(
            tx.pk,
            current["SK"],
            set={"status": "offline", "version": int(current.get("version", 0)) + 1},
            if_version=int(current.get("version", 0)),
            on_fail=_Changed("host changed meanwhile"),
        )
        events.host_status(tx, _event_data(current, "offline", "online"))

    try:
        get_store().commit(tenant, build)
    except _Changed:
        return False  # a heartbeat or another sweep got there first
    return True


def sweep_offline(tenant: str) -> list[str]:
    """Mark hosts whose heartbeat stopped offline (each live host runs this with its heartbeat)."""
    now = clock.now()
    stale = [
        item["name"]
        for item in all_items(tenant)
        if item.get("status") == "online" and effective_status(item, now) == "offline"
    ]
    return [name for name in stale if mark_offline(tenant, name, only_if_stale=True)]
